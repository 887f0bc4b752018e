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
