"""Phone change rules (codes, rate limits) and the Aliyun SMS request, pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from services.members.dal.sms import (
    AliyunSms,
    FakeSmsSender,
    SmsCredentials,
    SmsUnavailable,
    aliyun_phone,
    aliyun_signature,
    percent_encode,
)
from services.members.logic.phone import (
    MAX_ATTEMPTS,
    MAX_CODES_PER_DAY,
    WrongCode,
    check_code,
    code_mac,
    new_code,
    plan_code_request,
)
from shared.errors import Conflict, TooManyRequests, Unprocessable

if TYPE_CHECKING:
    from services.members.handlers.routes.common import Deps

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
KEY = b"k" * 32
CREDS = SmsCredentials("LTAI-test", "secret-test", "万达广场", "SMS_123456")


def _request(pending=None, now=NOW, code="123456"):
    return plan_code_request(
        member_id="M1",
        pending=pending,
        phone_hash="h1",
        sealed_phone={"phone_ct": "blob"},
        key=KEY,
        now=now,
        code=code,
    )


def test_codes_are_six_digits():
    codes = {new_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150


def test_a_code_is_stored_as_a_mac_bound_to_member_and_number():
    request = _request()
    assert request.item["code_mac"] == code_mac(KEY, "M1", "h1", "123456")
    assert "123456" not in request.item.values()
    assert code_mac(KEY, "M2", "h1", "123456") != request.item["code_mac"]
    assert request.expected_version is None and request.item["version"] == 1


def test_resend_waits_a_minute_and_five_codes_a_day():
    first = _request()
    with pytest.raises(TooManyRequests) as too_soon:
        _request(first.item, NOW + timedelta(seconds=59))
    assert too_soon.value.code == "code_requested_too_soon"
    item = first.item
    for n in range(1, MAX_CODES_PER_DAY):
        item = _request(item, NOW + timedelta(minutes=n)).item
    assert item["codes_in_window"] == MAX_CODES_PER_DAY
    with pytest.raises(TooManyRequests) as too_many:
        _request(item, NOW + timedelta(hours=1))
    assert too_many.value.code == "too_many_codes"
    fresh = _request(item, NOW + timedelta(days=1, minutes=1))
    assert fresh.item["codes_in_window"] == 1


def test_check_code_outcomes():
    pending = _request().item
    check_code(pending, member_id="M1", code="123456", key=KEY, now=NOW)
    with pytest.raises(WrongCode):
        check_code(pending, member_id="M1", code="654321", key=KEY, now=NOW)
    with pytest.raises(Unprocessable) as expired:
        check_code(pending, member_id="M1", code="123456", key=KEY, now=NOW + timedelta(minutes=5, seconds=1))
    assert expired.value.code == "code_expired"
    with pytest.raises(TooManyRequests):
        check_code({**pending, "attempts": MAX_ATTEMPTS}, member_id="M1", code="123456", key=KEY, now=NOW)
    with pytest.raises(Conflict):
        check_code(None, member_id="M1", code="123456", key=KEY, now=NOW)


def test_percent_encoding_follows_aliyun_rules():
    assert percent_encode("a b*c~d/é") == "a%20b%2Ac~d%2F%C3%A9"


def test_the_signature_is_hmac_sha1_of_the_canonical_request_with_the_secret_and_ampersand():
    params = {"B": "2", "A": "x y", "Action": "SendSms"}
    canonical = "A=x%20y&Action=SendSms&B=2"
    string_to_sign = "POST&%2F&" + urllib.parse.quote(canonical, safe="-_.~")
    expected = base64.b64encode(hmac.new(b"sk&", string_to_sign.encode(), hashlib.sha1).digest()).decode()
    assert aliyun_signature("POST", params, "sk") == expected


def test_the_send_sms_request_carries_the_documented_parameters():
    params = AliyunSms(CREDS).request_params("+8613900009999", "042042", now=NOW, nonce="n-1")
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["PhoneNumbers"] == "13900009999"
    assert json.loads(params["TemplateParam"]) == {"code": "042042"}
    assert params["Timestamp"] == "2026-11-23T02:00:00Z"
    assert params["SignatureMethod"] == "HMAC-SHA1" and params["SignatureVersion"] == "1.0"
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    assert params["Signature"] == aliyun_signature("POST", unsigned, "secret-test")
    assert aliyun_phone("+85261234567") == "85261234567"


class _Answering(AliyunSms):
    def __init__(self, answer: dict[str, object] | Exception) -> None:
        super().__init__(CREDS)
        self.answer = answer
        self.bodies: list[bytes] = []

    def _post(self, body: bytes) -> dict[str, object]:
        self.bodies.append(body)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_answers_map_to_results_and_errors():
    ok = _Answering({"Code": "OK", "BizId": "900619746936498440^0", "RequestId": "r"})
    assert ok.send_code("+8613900009999", "111111") == "900619746936498440^0"
    form = urllib.parse.parse_qs(ok.bodies[0].decode())
    assert form["PhoneNumbers"] == ["13900009999"] and "Signature" in form
    with pytest.raises(TooManyRequests):
        _Answering({"Code": "isv.BUSINESS_LIMIT_CONTROL"}).send_code("+8613900009999", "1")
    with pytest.raises(Unprocessable):
        _Answering({"Code": "isv.MOBILE_NUMBER_ILLEGAL"}).send_code("+8613900009999", "1")
    with pytest.raises(SmsUnavailable):
        _Answering({"Code": "isp.SYSTEM_ERROR"}).send_code("+8613900009999", "1")
    with pytest.raises(SmsUnavailable):
        _Answering(OSError("down")).send_code("+8613900009999", "1")


def test_the_fake_records_what_it_was_asked_to_send(caplog: pytest.LogCaptureFixture) -> None:
    FakeSmsSender.sent.clear()
    with caplog.at_level("INFO", logger="mallcrm.local_outbox"):
        FakeSmsSender().send_code("+8613900009999", "777777")
    (record,) = [r for r in caplog.records if r.name == "mallcrm.local_outbox"]
    entry = record.outbox  # type: ignore[attr-defined]  # the local cloud's outbox entry
    assert (entry["service"], entry["channel"], entry["kind"]) == ("members", "sms", "verification_code")
    assert entry["adapter"] == "FakeSmsSender" and "777777" in entry["body"]
    (sent,) = FakeSmsSender.sent
    assert (sent.to, sent.params) == ("+8613900009999", {"code": "777777"})
    assert "777777" in sent.text
    FakeSmsSender.sent.clear()


def _deps(adapter: str, **extra: str) -> Deps:
    from services.members.handlers.routes.common import Deps
    from services.members.models.api_settings import MembersApiSettings

    values = {
        "stage": "dev",
        "service_name": "members",
        "event_bus_name": "bus",
        "table_name": "t",
        "member_token_key_secret_arn": "a",
        "lookup_pepper_secret_arn": "b",
        "data_key_arn": "k",
        "sms_adapter": adapter,
        **extra,
    }
    return Deps(MembersApiSettings.model_validate(values))


@pytest.mark.parametrize("target", ["local", "localstack"])
def test_auto_is_the_fake_sms_on_local_targets(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", target)
    assert isinstance(_deps("auto").sms(), FakeSmsSender)


def test_auto_is_aliyun_on_aws_with_the_secrets_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLCRM_AWS_TARGET", raising=False)
    secret = json.dumps(
        {"access_key_id": "LTAI", "access_key_secret": "s", "sign_name": "万达", "template_code": "SMS_1"}
    )
    monkeypatch.setattr("services.members.handlers.routes.common.secret_string", lambda *a: secret)
    sender = _deps("auto", sms_provider_secret_arn="arn:sms").sms()
    assert isinstance(sender, AliyunSms) and sender.credentials.template_code == "SMS_1"
    with pytest.raises(RuntimeError):
        _deps("aliyun").sms()  # no secret configured


def test_the_fake_sms_is_refused_on_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLCRM_AWS_TARGET", "aws")
    with pytest.raises(RuntimeError):
        _deps("fake").sms()
