"""``shared.aws_sign``: the same SigV4 signature as botocore's, computed faster.

Every test signs the same request with botocore's ``SigV4Auth`` and with ours at the same instant
and compares every header: the signer is only worth having while it is indistinguishable from
the one it replaces.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
from botocore import auth as botocore_auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import aws, aws_sign
from shared.aws_sign import FastSigV4Auth

pytestmark = pytest.mark.usefixtures("fresh_clients")

INSTANT = datetime(2026, 11, 23, 23, 59, 58)  # botocore's clock is naive UTC


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda *args, **kwargs: INSTANT)


def _request(
    *,
    url: str = "https://dynamodb.us-east-1.amazonaws.com/",
    method: str = "POST",
    headers: dict[str, Any] | None = None,
    data: Any = b'{"TableName":"t"}',
    params: dict[str, str] | None = None,
    context: dict[str, Any] | None = None,
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=data, params=params or {})
    request.context.update(context or {})
    return request


def _sign_both(
    make: Any, credentials: ReadOnlyCredentials, service: str = "dynamodb", region: str = "us-east-1"
) -> tuple[AWSRequest, AWSRequest]:
    """The request ``make()`` builds, signed by botocore and by us (each on its own copy)."""
    theirs, ours = make(), make()
    SigV4Auth(credentials, service, region).add_auth(theirs)
    FastSigV4Auth(credentials, service, region).add_auth(ours)
    return theirs, ours


def _assert_same(theirs: AWSRequest, ours: AWSRequest) -> None:
    assert dict(ours.headers.items()) == dict(theirs.headers.items())
    assert ours.context["timestamp"] == theirs.context["timestamp"]
    assert "Authorization" in ours.headers


def _credentials(token: str | None = None, secret: str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY") -> Any:
    return Credentials("AKIDEXAMPLE", secret, token).get_frozen_credentials()


# --- generated requests -------------------------------------------------------------------------

_header_names = st.sampled_from(
    [
        "Content-Type",
        "X-Amz-Target",
        "User-Agent",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "X-Amzn-Trace-Id",
        "Expect",
        "x-amz-meta-Odd",
        "Host",
        "Content-MD5",
    ]
)
# Printable ASCII with runs of spaces and tabs: SigV4 trims and squeezes them.
_header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.just("\t"), max_size=20
)
_urls = st.sampled_from(
    [
        "https://dynamodb.us-east-1.amazonaws.com/",
        "https://123456789012.ddb.us-east-1.amazonaws.com",
        "http://localhost:4566/",
        "https://sqs.cn-north-1.amazonaws.com.cn:443/",
        "http://[::1]:8000/path/./to/../object with space?b=2&a=1&a=0",
        "https://events.eu-west-1.amazonaws.com/a%2Fb/?x=%20y",
    ]
)


@st.composite
def _requests(draw: st.DrawFn) -> Any:
    url = draw(_urls)
    method = draw(st.sampled_from(["POST", "GET", "put"]))
    headers = draw(st.dictionaries(_header_names, _header_values, max_size=6))
    data = draw(st.binary(max_size=300) | st.just(b""))
    names = st.sampled_from(["Action", "b", "a", "Version"])
    params = draw(st.dictionaries(names, _header_values, max_size=2))
    payload_signing = draw(st.sampled_from([None, True, False]))
    context = {} if payload_signing is None else {"payload_signing_enabled": payload_signing}
    return lambda: _request(
        url=url, method=method, headers=dict(headers), data=data, params=params, context=context
    )


@settings(max_examples=300, deadline=None)
@given(
    make=_requests(),
    token=st.none() | st.just("IQoJb3JpZ2luX2VjEXAMPLETOKEN=="),
    service=st.sampled_from(["dynamodb", "sqs", "events", "states"]),
    region=st.sampled_from(["us-east-1", "cn-north-1", "ap-southeast-1"]),
)
def test_a_request_is_signed_header_for_header_as_botocore_does(
    make: Any, token: str | None, service: str, region: str
) -> None:
    _assert_same(*_sign_both(make, _credentials(token), service, region))


# --- what botocore's own code still signs ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Odd": "caf\u00e9"},  # not ASCII: the e-mail header store encodes it its own way
        {" X-Padded ": "value"},  # signed names are trimmed, canonical ones are not
    ],
    ids=["non-ascii", "padded-name"],
)
def test_headers_outside_the_plain_case_are_signed_by_botocore(headers: dict[str, Any]) -> None:
    _assert_same(*_sign_both(lambda: _request(headers=dict(headers)), _credentials()))


def test_a_bytes_header_value_fails_as_it_does_in_botocore() -> None:
    for signer in (SigV4Auth, FastSigV4Auth):
        with pytest.raises(TypeError):
            signer(_credentials(), "dynamodb", "us-east-1").add_auth(_request(headers={"X-Odd": b"bytes"}))


def test_a_file_body_is_hashed_by_botocore_and_left_where_it_was() -> None:
    def make() -> AWSRequest:
        body = io.BytesIO(b"x" * 70_000)
        body.seek(5)
        return _request(data=body)

    theirs, ours = _sign_both(make, _credentials())
    _assert_same(theirs, ours)
    assert ours.data.tell() == 5


def test_a_streaming_checksum_payload_is_left_to_botocore() -> None:
    context = {"checksum": {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}}
    theirs, ours = _sign_both(lambda: _request(context=dict(context)), _credentials())
    _assert_same(theirs, ours)
    assert "STREAMING-UNSIGNED-PAYLOAD-TRAILER" not in ours.headers["Authorization"]  # in the hash only


def test_a_date_header_is_signed_as_botocore_signs_it() -> None:
    headers = {"Date": "Mon, 01 Jan 2001 00:00:00 GMT"}
    _assert_same(*_sign_both(lambda: _request(headers=dict(headers)), _credentials()))


def test_a_retry_replaces_the_previous_signature() -> None:
    request = _request()
    signer = FastSigV4Auth(_credentials("token-1"), "dynamodb", "us-east-1")
    signer.add_auth(request)
    first = request.headers["Authorization"]
    signer = FastSigV4Auth(_credentials("token-2"), "dynamodb", "us-east-1")
    signer.add_auth(request)
    expected = _request()
    SigV4Auth(_credentials("token-2"), "dynamodb", "us-east-1").add_auth(expected)
    assert request.headers["Authorization"] == expected.headers["Authorization"] != first
    assert request.headers["X-Amz-Security-Token"] == "token-2"


def test_no_credentials_raises_as_botocore_does() -> None:
    from botocore.exceptions import NoCredentialsError

    with pytest.raises(NoCredentialsError):
        FastSigV4Auth(None, "dynamodb", "us-east-1").add_auth(_request())


def test_the_signing_key_follows_the_day_and_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The derived key is remembered: a new day, a rotated secret or another region must not reuse
    the old one (botocore derives it every time, so any mistake here shows as a different header)."""
    for instant, secret, region in [
        (INSTANT, "secret-a", "us-east-1"),
        (datetime(2026, 11, 24, 0, 0, 1), "secret-a", "us-east-1"),
        (datetime(2026, 11, 24, 0, 0, 2), "secret-b", "us-east-1"),
        (datetime(2026, 11, 24, 0, 0, 3), "secret-b", "cn-north-1"),
    ]:
        monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda *a, at=instant, **k: at)
        _assert_same(*_sign_both(_request, _credentials(secret=secret), region=region))


# --- installing -----------------------------------------------------------------------------------


def _signer_used(client: Any, call: Any) -> type:
    """The class of the auth object ``client``'s signer hands out for ``call``."""
    used: list[type] = []
    choose = client._request_signer.get_auth_instance

    def spy(*args: Any, **kwargs: Any) -> Any:
        chosen = choose(*args, **kwargs)
        used.append(type(chosen))
        return chosen

    client._request_signer.get_auth_instance = spy
    try:
        call(client)
    finally:
        client._request_signer.get_auth_instance = choose
    return used[0]


def test_clients_sign_plain_sigv4_with_ours_and_leave_the_other_signers_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "local")
    from moto import mock_aws

    with mock_aws():
        dynamodb, sqs, s3 = aws.client("dynamodb"), aws.client("sqs"), aws.client("s3")
        assert _signer_used(dynamodb, lambda c: c.list_tables()) is FastSigV4Auth
        assert _signer_used(sqs, lambda c: c.list_queues()) is FastSigV4Auth
        s3.create_bucket(Bucket="mallcrm-sign-test")
        assert _signer_used(s3, lambda c: c.list_objects_v2(Bucket="mallcrm-sign-test")) is not FastSigV4Auth
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "mallcrm-sign-test", "Key": "k"})
        assert "Signature=" in url  # presigned by botocore's own query signer, unchanged


def test_signing_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "local")
    on = aws.client("sqs")
    monkeypatch.setenv("MALLCRM_SDK_FAST_SIGN", "off")
    off = aws.client("sqs")
    assert off is not on
    assert "get_auth_instance" not in vars(off._request_signer)
    assert "get_auth_instance" in vars(on._request_signer)


def test_an_unknown_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLCRM_SDK_FAST_SIGN", "sometimes")
    with pytest.raises(ValueError, match="MALLCRM_SDK_FAST_SIGN"):
        aws.client("sqs")


def test_a_client_without_a_request_signer_is_left_alone() -> None:
    class Renamed:
        pass

    assert aws_sign.install(Renamed()) is False
