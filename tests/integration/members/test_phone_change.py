"""Phone change with SMS verification on moto: a code to the new number (recorded by the fake
sender), confirm → the phone lookup key moves in one transaction; one member per phone (race:
exactly one of two members confirming the same number wins, the other 409); wrong, expired and
reused codes; rate limits per member, per number and per code."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from services.members.dal.sms import FakeSmsSender
from services.members.handlers.routes import common
from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    member_event,
    outbox,
    register,
    staff_event,
)

REQUEST = "/v1/members/me/phone/verification"
CONFIRM = "/v1/members/me/phone"
NEW = "13900009999"


@pytest.fixture
def env(identity_env: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:  # noqa: F811
    monkeypatch.setattr(common.Deps, "sms", lambda self: FakeSmsSender())
    FakeSmsSender.sent.clear()
    return identity_env


def ask(context: dict[str, Any], phone: str = NEW) -> tuple[int, dict[str, Any]]:
    return call(member_event("POST", REQUEST, context, {"phone": phone}))


def confirm(context: dict[str, Any], code: str) -> tuple[int, dict[str, Any]]:
    return call(member_event("POST", CONFIRM, context, {"code": code}))


def last_code(to: str = "+86" + NEW) -> str:
    return [m for m in FakeSmsSender.sent if m.to == to][-1].params["code"]


def search(phone: str) -> list[dict[str, Any]]:
    status, body = call(staff_event("GET", "/v1/admin/members", "admin", query={"phone": phone}))
    assert status == 200, body
    members: list[dict[str, Any]] = body["members"]
    return members


def test_the_code_goes_to_the_new_number_and_confirming_moves_the_lookup_key(env: Clock) -> None:
    member_id, context = register("o-ph-1", "13812341234")
    status, body = ask(context)
    assert status == 202, body
    assert body == {"sent_to": "139****9999", "expires_in": 300, "resend_after": 60}
    (sms,) = FakeSmsSender.sent
    assert sms.to == "+8613900009999" and sms.params["code"] in sms.text
    # nothing moved yet, and the code is stored only as a MAC
    assert [m["member_id"] for m in search("13812341234")] == [member_id]
    (pending,) = [i for i in items() if i.get("sk") == "PHONECHANGE"]
    assert sms.params["code"] not in [str(v) for v in pending.values()]
    assert len(pending["code_mac"]) == 64
    assert "13900009999" not in repr(items())
    status, body = confirm(context, sms.params["code"])
    assert status == 200, body
    assert body["phone"] == "+8613900009999"
    assert search("13812341234") == []
    assert [m["member_id"] for m in search(NEW)] == [member_id]
    assert [e["data"]["changed_fields"] for e in outbox("MemberProfileUpdated")] == [["phone"]]
    assert not any(i.get("sk") == "PHONECHANGE" for i in items())
    status, me = call(member_event("GET", "/v1/members/me", context))
    assert me["phone"] == "+8613900009999"
    # the old number is free for someone else now
    register("o-ph-2", "13812341234")
    # a code works once
    assert confirm(context, sms.params["code"])[0] == 409


def test_a_wrong_code_counts_and_five_void_the_code(env: Clock) -> None:
    _, context = register("o-ph-3", "13812341235")
    ask(context)
    good = last_code()
    wrong = "000000" if good != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        status, body = confirm(context, wrong)
        assert (status, body["error"]["code"]) == (422, "code_invalid")
        assert f"{left} attempts left" in body["error"]["message"]
    status, body = confirm(context, good)
    assert (status, body["error"]["code"]) == (429, "too_many_attempts")
    assert search(NEW) == []


def test_an_expired_code_is_refused(env: Clock) -> None:
    _, context = register("o-ph-4", "13812341236")
    ask(context)
    env.now += timedelta(minutes=5, seconds=1)
    status, body = confirm(context, last_code())
    assert (status, body["error"]["code"]) == (422, "code_expired")


def test_confirm_without_a_request_is_409(env: Clock) -> None:
    _, context = register("o-ph-5", "13812341237")
    status, body = confirm(context, "123456")
    assert (status, body["error"]["code"]) == (409, "no_phone_change_pending")


def test_bad_input_the_current_number_or_a_taken_number_send_nothing(env: Clock) -> None:
    _, context = register("o-ph-6", "13812341238")
    register("o-ph-7", "13812341239")
    before = len(items())
    assert ask(context, "12345")[0] == 422
    assert ask(context, "13812341238")[1]["error"]["code"] == "phone_unchanged"
    status, body = ask(context, "13812341239")
    assert (status, body["error"]["code"]) == (409, "phone_already_registered")
    assert call(member_event("POST", CONFIRM, context, {"code": "12ab56"}))[0] == 422
    assert FakeSmsSender.sent == []
    assert len(items()) == before


def test_one_code_a_minute_and_five_a_day_per_member(env: Clock) -> None:
    _, context = register("o-ph-8", "13812341240")
    assert ask(context)[0] == 202
    status, body = ask(context)
    assert (status, body["error"]["code"]) == (429, "code_requested_too_soon")
    for n in range(4):
        env.now += timedelta(seconds=61)
        assert ask(context, f"1390000{n:04d}")[0] == 202
    env.now += timedelta(seconds=61)
    status, body = ask(context, "13900005555")
    assert (status, body["error"]["code"]) == (429, "too_many_codes")
    assert len(FakeSmsSender.sent) == 5
    # the latest code wins; the earlier ones are void
    env.now += timedelta(days=1)
    assert ask(context, "13900006666")[0] == 202


def test_five_codes_a_day_per_number_whoever_asks(env: Clock) -> None:
    contexts = [register(f"o-ph-n{n}", f"1381234130{n}")[1] for n in range(6)]
    for context in contexts[:5]:
        assert ask(context)[0] == 202
    status, body = ask(contexts[5])
    assert (status, body["error"]["code"]) == (429, "too_many_codes_for_number")
    assert len(FakeSmsSender.sent) == 5


@pytest.fixture
def serialisable_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB serialises conflicting transactions; moto does not (see test_registration_race)."""
    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", locked)


@pytest.mark.usefixtures("serialisable_transactions")
def test_two_members_confirming_the_same_number_at_once_one_wins_the_other_409(env: Clock) -> None:
    members = [register("o-race-1", "13812342001"), register("o-race-2", "13812342002")]
    codes = []
    for _, context in members:
        assert ask(context)[0] == 202
        codes.append(last_code())
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict[str, Any]]] = []
    errors: list[BaseException] = []

    def attempt(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(confirm(members[n][1], codes[n]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(status for status, _ in results) == [200, 409]
    (loser,) = [body for status, body in results if status == 409]
    assert loser["error"]["code"] == "phone_already_registered"
    (winner,) = [body for status, body in results if status == 200]
    assert [m["member_id"] for m in search(NEW)] == [winner["member_id"]]
    phone_keys = [i for i in items() if str(i["pk"]).startswith("IDENT#phone#") and i["sk"] == "IDENT"]
    assert len(phone_keys) == 2  # the winner's new number and the loser's unchanged one
    loser_context = next(c for m, c in members if m != winner["member_id"])
    status, me = call(member_event("GET", "/v1/members/me", loser_context))
    assert status == 200 and me["phone"] != "+86" + NEW


def test_erasure_removes_a_pending_phone_change(env: Clock) -> None:
    member_id, context = register("o-ph-9", "13812341299")
    assert ask(context)[0] == 202
    assert any(i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "PHONECHANGE" for i in items())
    assert call(member_event("DELETE", "/v1/members/me", context))[0] == 204
    assert not any(i["pk"] == f"MEMBER#{member_id}" and i["sk"] == "PHONECHANGE" for i in items())
