from __future__ import annotations

import pytest
from moto import mock_aws

from shared import aws

pytestmark = pytest.mark.usefixtures("fresh_clients")


def test_the_same_client_is_reused_for_the_same_target_and_region():
    assert aws.client("dynamodb") is aws.client("dynamodb")
    assert aws.client("dynamodb") is not aws.client("events")


def test_switching_target_or_region_gives_a_fresh_client(monkeypatch):
    local = aws.client("sqs")
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    real = aws.client("sqs")
    assert real is not local
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    china = aws.client("sqs")
    assert china is not real
    assert china.meta.region_name == "cn-north-1"


def test_an_endpoint_override_is_part_of_the_key(monkeypatch):
    plain = aws.client("s3")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:5000")
    pointed = aws.client("s3")
    assert pointed is not plain
    assert pointed.meta.endpoint_url == "http://127.0.0.1:5000"


def test_reset_clients_forgets_everything():
    first = aws.client("dynamodb")
    aws.reset_clients()
    assert aws.client("dynamodb") is not first


def test_clients_are_configured_with_timeouts_retries_and_keepalive():
    config = aws.client("dynamodb").meta.config
    assert config.connect_timeout == aws.CONNECT_TIMEOUT
    assert config.read_timeout == aws.READ_TIMEOUT
    assert config.retries == {"mode": "standard", "total_max_attempts": aws.MAX_ATTEMPTS}
    assert config.tcp_keepalive is True


def test_local_target_is_served_by_in_process_moto():
    with mock_aws():
        client = aws.client("sqs")
        client.create_queue(QueueName="q")
        assert client.list_queues()["QueueUrls"][0].endswith("/q")


def test_localstack_target_points_at_localstack_host(monkeypatch):
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "localstack")
    monkeypatch.setenv("LOCALSTACK_HOST", "localstack.internal:4566")
    client = aws.client("dynamodb")
    assert client.meta.endpoint_url == "http://localstack.internal:4566"
    monkeypatch.setenv("LOCALSTACK_HOST", "other:4566")
    assert aws.client("dynamodb").meta.endpoint_url == "http://other:4566"


def test_an_unknown_target_is_refused(monkeypatch):
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "azure")
    with pytest.raises(ValueError, match="MALLCRM_AWS_TARGET"):
        aws.client("dynamodb")


def _validates_client_side() -> bool:
    """Whether the current client refuses a malformed request itself (before anything is sent)."""
    from botocore.awsrequest import AWSResponse
    from botocore.exceptions import ParamValidationError

    client = aws.client("dynamodb")

    def answer(**_: object) -> tuple[AWSResponse, dict[str, object]]:
        return AWSResponse(None, 200, {}, None), {"ResponseMetadata": {"HTTPStatusCode": 200}}

    client.meta.events.register("before-call", answer)
    try:
        client.get_item(TableName="t", Key={"pk": {"S": 5}})
    except ParamValidationError:
        return True
    finally:
        client.meta.events.unregister("before-call", answer)
    return False


def test_parameter_validation_is_on_where_tests_run_and_off_on_aws(monkeypatch):
    monkeypatch.delenv("MALLCRM_SDK_PARAM_VALIDATION", raising=False)
    assert _validates_client_side()  # the tests' target: local
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    assert not _validates_client_side()
    monkeypatch.setenv("MALLCRM_SDK_PARAM_VALIDATION", "on")
    assert _validates_client_side()
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "local")
    monkeypatch.setenv("MALLCRM_SDK_PARAM_VALIDATION", "off")
    assert not _validates_client_side()


def test_a_parameter_validation_setting_that_is_neither_on_nor_off_is_refused(monkeypatch):
    monkeypatch.setenv("MALLCRM_SDK_PARAM_VALIDATION", "maybe")
    with pytest.raises(ValueError, match="on or off"):
        aws.client("dynamodb")


def test_requests_carry_a_fixed_user_agent_naming_us_and_the_sdk():
    class Sent(Exception):
        pass

    seen: list[str] = []

    def capture(request: object, **_: object) -> None:
        seen.append(request.headers["User-Agent"].decode())  # type: ignore[attr-defined]
        raise Sent  # nothing leaves the process

    ddb = aws.client("dynamodb")
    ddb.meta.events.register_first("before-send", capture)
    try:
        with pytest.raises(Sent):
            ddb.describe_limits()
    finally:
        ddb.meta.events.unregister("before-send", capture)
    assert seen and seen[0].startswith("mallcrm/1 botocore/") and " Python/" in seen[0]
