"""The shared one-time-code rules (logic/one_time_code.py), under a policy whose numbers differ from
both real ones, so each rule is shown to follow the policy, not a constant."""

from __future__ import annotations

import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.members.logic import email_verification, phone
from services.members.logic.members import Delete
from services.members.logic.one_time_code import (
    CodeRequest,
    WrongCode,
    check_code,
    code_mac,
    consume,
    new_code,
    plan_code_request,
    wrong_code_answer,
)
from shared.errors import Conflict, TooManyRequests, Unprocessable

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
KEY = b"k" * 32
MEMBER = "01JD0000000000000000000OTC"
TARGET = "a" * 64
# E-mail verification's names with limits of the test's own: the rules follow the policy given.
POLICY = replace(
    email_verification.CODES, ttl=timedelta(minutes=7), resend_seconds=90, max_codes_per_day=3, max_attempts=4
)


def ask(pending: dict[str, Any] | None = None, now: datetime = NOW, **kw: Any) -> CodeRequest:
    return plan_code_request(
        POLICY,
        member_id=kw.pop("member_id", MEMBER),
        pending=pending,
        target_hash=kw.pop("target_hash", TARGET),
        key=KEY,
        now=now,
        code=kw.pop("code", "123456"),
        **kw,
    )


def check(pending: dict[str, Any] | None, code: str = "123456", **kw: Any) -> None:
    check_code(
        POLICY,
        pending,
        member_id=kw.pop("member_id", MEMBER),
        code=code,
        key=kw.pop("key", KEY),
        now=kw.pop("now", NOW),
    )


# --- the pending item -----------------------------------------------------------------------------


def test_the_item_is_named_by_the_policy_and_holds_only_a_mac_of_the_code() -> None:
    planned = ask(extra={"sealed_ct": "blob"})
    item = planned.item
    assert planned.code == "123456" and planned.expected_version is None
    assert (item["pk"], item["sk"], item["entity"]) == (
        f"MEMBER#{MEMBER}",
        "EMAILVERIFY",
        "email_verification",
    )
    assert item["address_hash"] == TARGET and item["sealed_ct"] == "blob"
    other = plan_code_request(
        phone.CODES, member_id=MEMBER, pending=None, target_hash=TARGET, key=KEY, now=NOW, code="123456"
    ).item
    assert (other["sk"], other["entity"], other["phone_hash"]) == ("PHONECHANGE", "phone_change", TARGET)
    assert item["code_mac"] == code_mac(KEY, MEMBER, TARGET, "123456")
    assert "123456" not in json.dumps(item)
    assert (
        item["expires_at_epoch"] == int(NOW.timestamp()) + 7 * 60 == int(NOW.timestamp()) + POLICY.expires_in
    )
    assert (item["attempts"], item["codes_in_window"], item["version"]) == (0, 1, 1)
    assert item["ttl"] == int(NOW.timestamp()) + 2 * 86_400


def test_the_mac_is_bound_to_key_member_target_and_code() -> None:
    mac = code_mac(KEY, MEMBER, TARGET, "123456")
    assert len(mac) == 64
    assert mac == code_mac(KEY, MEMBER, TARGET, "123456")
    for other in (
        code_mac(b"o" * 32, MEMBER, TARGET, "123456"),
        code_mac(KEY, "01JD0000000000000000000XXX", TARGET, "123456"),
        code_mac(KEY, MEMBER, "b" * 64, "123456"),
        code_mac(KEY, MEMBER, TARGET, "123457"),
    ):
        assert other != mac


def test_codes_have_the_digits_asked_for() -> None:
    six = {new_code() for _ in range(300)}
    assert all(len(c) == 6 and c.isdigit() for c in six)
    assert len(six) > 250  # drawn, not fixed
    assert all(len(c) == 4 and c.isdigit() for c in (new_code(4) for _ in range(50)))


# --- resend interval and the daily window ---------------------------------------------------------


def test_a_new_code_waits_the_policys_resend_interval() -> None:
    first = ask().item
    with pytest.raises(TooManyRequests) as soon:
        ask(first, NOW + timedelta(seconds=89))
    assert soon.value.code == "code_requested_too_soon"
    assert soon.value.message == "Wait 1 s before asking again."
    again = ask(first, NOW + timedelta(seconds=90), code="654321")
    assert again.expected_version == 1 and again.item["version"] == 2
    assert again.item["code_mac"] == code_mac(KEY, MEMBER, TARGET, "654321")  # the new code replaces
    assert (again.item["attempts"], again.item["codes_in_window"]) == (0, 2)
    assert again.item["window_start_epoch"] == int(NOW.timestamp())


def test_the_daily_limit_counts_in_a_rolling_window_from_the_first_code() -> None:
    pending = ask().item
    for n in range(1, POLICY.max_codes_per_day):
        pending = ask(pending, NOW + timedelta(hours=n)).item
    assert pending["codes_in_window"] == 3 and pending["window_start_epoch"] == int(NOW.timestamp())
    with pytest.raises(TooManyRequests) as full:
        ask(pending, NOW + timedelta(seconds=86_399))
    assert full.value.code == "too_many_codes"
    fresh = ask(pending, NOW + timedelta(seconds=86_400)).item
    assert fresh["codes_in_window"] == 1
    assert fresh["window_start_epoch"] == int(NOW.timestamp()) + 86_400


def test_the_wait_is_told_before_the_daily_limit() -> None:
    pending = {**ask().item, "codes_in_window": POLICY.max_codes_per_day}
    with pytest.raises(TooManyRequests) as soon:
        ask(pending, NOW + timedelta(seconds=10))
    assert soon.value.code == "code_requested_too_soon"


# --- the check ------------------------------------------------------------------------------------


def test_the_right_code_passes_until_the_ttl_and_expires_after_it() -> None:
    item = ask().item
    check(item)
    check(item, code=" 123456\n")
    check(item, now=NOW + timedelta(minutes=7))
    with pytest.raises(Unprocessable) as expired:
        check(item, now=NOW + timedelta(minutes=7, seconds=1))
    assert (expired.value.status, expired.value.code) == (422, "code_expired")


def test_a_wrong_code_or_another_members_or_key_is_wrong_code() -> None:
    item = ask().item
    for kw in ({"code": "123457"}, {"member_id": "01JD0000000000000000000XXX"}, {"key": b"o" * 32}):
        with pytest.raises(WrongCode) as wrong:
            check(item, **kw)
        assert (wrong.value.status, wrong.value.code) == (422, "code_invalid")


def test_a_code_for_another_target_is_wrong() -> None:
    item = {**ask().item, "address_hash": "b" * 64}  # the stored MAC was bound to TARGET
    with pytest.raises(WrongCode):
        check(item)


def test_attempts_exhaust_at_the_policys_limit_before_expiry_and_whatever_the_code() -> None:
    item = ask().item
    check({**item, "attempts": POLICY.max_attempts - 1})
    for now in (NOW, NOW + timedelta(days=1)):
        with pytest.raises(TooManyRequests) as exhausted:
            check({**item, "attempts": POLICY.max_attempts}, now=now)
        assert (exhausted.value.status, exhausted.value.code) == (429, "too_many_attempts")


def test_nothing_pending_is_the_policys_409() -> None:
    with pytest.raises(Conflict) as none:
        check(None)
    assert (none.value.status, none.value.code) == (409, "no_email_verification_pending")
    assert none.value.message == "Ask for a code for your current e-mail address first."
    with pytest.raises(Conflict) as phone_none:
        check_code(phone.CODES, None, member_id=MEMBER, code="123456", key=KEY, now=NOW)
    assert (phone_none.value.code, phone_none.value.message) == (
        "no_phone_change_pending",
        "Ask for a code first.",
    )


def test_the_code_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hmac.compare_digest
    compared: list[tuple[Any, Any]] = []

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # the module one_time_code compares with
    item = ask().item
    check(item)
    with pytest.raises(WrongCode):
        check(item, code="000000")
    right, wrong = compared
    assert right == (item["code_mac"], item["code_mac"])
    assert wrong == (code_mac(KEY, MEMBER, TARGET, "000000"), item["code_mac"])


def test_the_wrong_code_answer_counts_down_the_attempts_left() -> None:
    assert [wrong_code_answer(POLICY, n).message for n in (0, 2, 3, 9)] == [
        "The code is not right (3 attempts left).",
        "The code is not right (1 attempts left).",
        "The code is not right (0 attempts left).",
        "The code is not right (0 attempts left).",
    ]
    assert wrong_code_answer(POLICY, 0).code == "code_invalid"


def test_consuming_deletes_the_pending_item_only_as_read() -> None:
    item = {**ask().item, "attempts": 2}
    delete = consume(POLICY, MEMBER, item)
    assert isinstance(delete, Delete)
    assert delete.key == {"pk": f"MEMBER#{MEMBER}", "sk": "EMAILVERIFY"}
    assert delete.expected == {"code_mac": item["code_mac"], "attempts": 2}
    assert delete.conflict == "email_code_used"
    assert consume(phone.CODES, MEMBER, item).key["sk"] == "PHONECHANGE"


# --- the two policies in use ----------------------------------------------------------------------


def test_phone_change_and_email_verification_policies() -> None:
    both = (phone.CODES, email_verification.CODES)
    got = {
        name: tuple(getattr(policy, name) for policy in both)
        for name in (
            "purpose",
            "pending_sk",
            "target_field",
            "expires_in",
            "resend_seconds",
            "max_codes_per_day",
            "max_attempts",
            "not_pending",
            "request_conflict",
            "code_used",
        )
    }
    assert got == {
        "purpose": ("phone_change", "email_verification"),
        "pending_sk": ("PHONECHANGE", "EMAILVERIFY"),
        "target_field": ("phone_hash", "address_hash"),
        "expires_in": (5 * 60, 30 * 60),
        "resend_seconds": (60, 60),
        "max_codes_per_day": (5, 5),
        "max_attempts": (5, 5),
        "not_pending": (
            ("no_phone_change_pending", "Ask for a code first."),
            ("no_email_verification_pending", "Ask for a code for your current e-mail address first."),
        ),
        "request_conflict": ("phone_change_conflict", "email_verification_conflict"),
        "code_used": ("phone_code_used", "email_code_used"),
    }
