"""E-mail verification: the code request's limits, the check (bound to the member and the address
the profile holds now), the verified transaction, and the SES / fake senders."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from services.members.dal import email as email_dal
from services.members.dal.email import EmailUnavailable, FakeVerificationMail, SesVerificationMail
from services.members.logic.email_verification import (
    MAX_ATTEMPTS,
    MAX_CODES_PER_DAY,
    CodeRequest,
    WrongCode,
    address_hash,
    check_code,
    plan_code_request,
    plan_verified,
)
from services.members.logic.members import Delete, Put, UpdateProfile
from shared.errors import Conflict, TooManyRequests, Unprocessable

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01JD0000000000000000000EEE"
KEY = b"k" * 32
ADDRESS = "zhang@example.com"


def profile(**extra: Any) -> dict[str, Any]:
    return {"member_id": MEMBER, "status": "active", "version": 4, **extra}


def request(pending: dict[str, Any] | None = None, now: datetime = NOW, **kw: Any) -> CodeRequest:
    return plan_code_request(
        member_id=MEMBER,
        profile=kw.pop("profile", profile()),
        address=kw.pop("address", ADDRESS),
        pending=pending,
        key=KEY,
        now=now,
        code=kw.pop("code", "123456"),
    )


def test_a_code_is_stored_only_as_a_mac_bound_to_member_and_address() -> None:
    planned = request()
    item = planned.item
    assert planned.code == "123456" and planned.expected_version is None
    assert (item["pk"], item["sk"]) == (f"MEMBER#{MEMBER}", "EMAILVERIFY")
    assert item["address_hash"] == address_hash(KEY, ADDRESS)
    assert "123456" not in json.dumps(item) and ADDRESS not in json.dumps(item)
    assert item["expires_at_epoch"] == int(NOW.timestamp()) + 30 * 60


def test_no_address_or_an_already_verified_one_is_409() -> None:
    with pytest.raises(Conflict) as none:
        request(address=None)
    assert none.value.code == "no_email"
    with pytest.raises(Conflict) as done:
        request(profile=profile(email_verified_at="2026-11-22T00:00:00.000000Z"))
    assert done.value.code == "email_already_verified"


def test_one_code_a_minute_and_five_a_rolling_day_whatever_the_address() -> None:
    first = request().item
    with pytest.raises(TooManyRequests) as soon:
        request(first, now=NOW + timedelta(seconds=30))
    assert soon.value.code == "code_requested_too_soon"
    pending = first
    for n in range(1, MAX_CODES_PER_DAY):
        # a new address each time does not reset the count (no mail-bombing a list of strangers)
        nxt = request(pending, now=NOW + timedelta(minutes=2 * n), address=f"u{n}@example.com")
        assert nxt.expected_version == pending["version"]
        pending = nxt.item
    assert pending["codes_in_window"] == MAX_CODES_PER_DAY
    with pytest.raises(TooManyRequests) as day:
        request(pending, now=NOW + timedelta(hours=3))
    assert day.value.code == "too_many_codes"
    assert request(pending, now=NOW + timedelta(days=1, minutes=1)).item["codes_in_window"] == 1


def check(pending: dict[str, Any] | None, code: str = "123456", **kw: Any) -> None:
    check_code(
        pending,
        member_id=kw.pop("member_id", MEMBER),
        address=kw.pop("address", ADDRESS),
        code=code,
        key=KEY,
        now=kw.pop("now", NOW + timedelta(minutes=5)),
    )


def test_the_right_code_for_the_current_address_passes() -> None:
    check(request().item)
    check(request().item, code=" 123456 ")


def test_a_code_for_another_address_or_none_pending_is_409() -> None:
    with pytest.raises(Conflict) as none:
        check(None)
    assert none.value.code == "no_email_verification_pending"
    with pytest.raises(Conflict):
        check(request().item, address="other@example.com")  # the address changed since
    with pytest.raises(Conflict):
        check(request().item, address=None)  # removed since


def test_wrong_expired_and_exhausted_codes() -> None:
    item = request().item
    with pytest.raises(WrongCode):
        check(item, code="654321")
    with pytest.raises(WrongCode):
        check(item, member_id="01JD0000000000000000000FFF")  # another member's code
    with pytest.raises(Unprocessable) as expired:
        check(item, now=NOW + timedelta(minutes=31))
    assert expired.value.code == "code_expired"
    with pytest.raises(TooManyRequests) as exhausted:
        check({**item, "attempts": MAX_ATTEMPTS})
    assert exhausted.value.code == "too_many_attempts"


def test_verified_is_one_conditional_transaction_with_the_event() -> None:
    pending = {**request().item, "attempts": 2}
    writes, after = plan_verified(profile=profile(), pending=pending, now=NOW, correlation_id="c")
    update, delete, put = writes
    assert isinstance(update, UpdateProfile) and update.expected_version == 4
    assert update.set["email_verified_at"] == "2026-11-23T02:00:00.000000Z" and update.set["version"] == 5
    assert isinstance(delete, Delete) and delete.expected == {"code_mac": pending["code_mac"], "attempts": 2}
    assert delete.conflict == "email_code_used"
    assert isinstance(put, Put) and put.item["detail_type"] == "MemberProfileUpdated"
    assert json.loads(put.item["detail"])["data"]["changed_fields"] == ["email_verified"]
    assert after["email_verified_at"] and after["version"] == 5


# --- senders --------------------------------------------------------------------------------------


class FakeSes:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"MessageId": "0100018c-ses"}


def ses_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "SendEmail")


def test_ses_send_email_request_follows_the_v2_api(monkeypatch: pytest.MonkeyPatch) -> None:
    ses = FakeSes()
    monkeypatch.setattr(email_dal, "client", lambda name: ses if name == "sesv2" else None)
    sender = SesVerificationMail("no-reply@mall.example", configuration_set="members")
    assert sender.send_code(ADDRESS, "246810") == "0100018c-ses"
    [call] = ses.calls
    assert call["FromEmailAddress"] == "no-reply@mall.example"
    assert call["Destination"] == {"ToAddresses": [ADDRESS]}
    simple = call["Content"]["Simple"]
    assert simple["Subject"]["Charset"] == "UTF-8" and "246810" in simple["Body"]["Text"]["Data"]
    assert call["ConfigurationSetName"] == "members"
    assert call["EmailTags"] == [{"Name": "purpose", "Value": "email_verification"}]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ses_error("BadRequestException"), "email_rejected"),
        (ses_error("MessageRejected"), "email_unavailable"),  # e.g. our sender identity unverified
        (ses_error("TooManyRequestsException"), "email_unavailable"),
        (ses_error("SendingPausedException"), "email_unavailable"),
        (ses_error("AccountSuspendedException"), "email_unavailable"),
        (EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), "email_unavailable"),
    ],
)
def test_ses_errors_map_to_422_or_503(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: str
) -> None:
    monkeypatch.setattr(email_dal, "client", lambda name: FakeSes(error))
    with pytest.raises((Unprocessable, EmailUnavailable)) as failed:
        SesVerificationMail("no-reply@mall.example").send_code(ADDRESS, "246810")
    assert failed.value.code == expected


def test_the_fake_records_the_code_for_the_local_outbox(caplog: pytest.LogCaptureFixture) -> None:
    FakeVerificationMail.sent.clear()
    with caplog.at_level(logging.INFO, logger="mallcrm.local_outbox"):
        message_id = FakeVerificationMail().send_code(ADDRESS, "135790")
    [sent] = FakeVerificationMail.sent
    assert sent.to == ADDRESS and "135790" in sent.text and sent.message_id == message_id
    [record] = [r for r in caplog.records if r.name == "mallcrm.local_outbox"]
    entry = record.outbox  # type: ignore[attr-defined]
    assert entry["channel"] == "email" and entry["kind"] == "verification_code" and entry["to"] == ADDRESS
    assert entry["adapter"] == "FakeVerificationMail" and "135790" in entry["body"]
