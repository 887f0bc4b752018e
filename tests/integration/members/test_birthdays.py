"""MembersBirthdayFunction on moto (contract F): members registered through the API with a
birthday are found through the sparse month-day index at 09:00 mall time; one MemberBirthdayToday
per member per year; Feb 29 births on Feb 28 in common years; month mode; a re-run, an erased
member or a changed birthday publish nothing; the yearly marker goes with the erasure; and the
index holds only the month-day (no plaintext birthday anywhere in the table)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.members.handlers import birthdays
from tests.integration.helpers import FakeContext
from tests.integration.members.identity_support import (
    Clock,
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    member_event,
    outbox,
    register,
)

# 09:00 in Asia/Shanghai is 01:00 UTC
NOV_23_0900 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

# member name -> (member_id, the member's request context)
Members = dict[str, tuple[str, dict[str, Any]]]


@pytest.fixture
def members(identity_env: Clock) -> Members:  # noqa: F811
    identity_env.now = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    return {
        "nov23": register("o-bd-1", "13812340001", birthday="1990-11-23"),
        "nov23b": register("o-bd-2", "13812340002", birthday="2001-11-23"),
        "nov24": register("o-bd-3", "13812340003", birthday="1985-11-24"),
        "leap": register("o-bd-4", "13812340004", birthday="1992-02-29"),
        "none": register("o-bd-5", "13812340005", birthday=None),
    }


def run(clock: Clock, at: datetime) -> dict[str, Any]:
    clock.now = at
    summary: dict[str, Any] = birthdays.handler({"job": "birthdays"}, FakeContext())
    return summary


def events() -> list[dict[str, Any]]:
    return [e["data"] for e in outbox("MemberBirthdayToday")]


def test_todays_birthdays_are_published_once(identity_env: Clock, members: Members) -> None:  # noqa: F811
    summary = run(identity_env, NOV_23_0900)
    assert (summary["published"], summary["complete"]) == (2, True)
    got = sorted((e["member_id"], e["birthday_on"], e["mode"]) for e in events())
    assert got == sorted((members[k][0], "2026-11-23", "day") for k in ("nov23", "nov23b"))
    assert run(identity_env, NOV_23_0900)["published"] == 0  # the same day again
    assert len(events()) == 2


def test_the_index_holds_the_month_day_only(members: Members) -> None:
    profiles = [i for i in items() if i.get("sk") == "PROFILE"]
    assert sorted(i["gsi2pk"] for i in profiles if i.get("gsi2pk")) == [
        "BDAY#0229",
        "BDAY#1123",
        "BDAY#1123",
        "BDAY#1124",
    ]
    dump = repr(items())
    for plain in ("1990-11-23", "19901123", "1992-02-29", "1985-11-24"):
        assert plain not in dump


def test_feb_29_births_are_greeted_on_feb_28_in_a_common_year(identity_env: Clock, members: Members) -> None:  # noqa: F811
    run(identity_env, datetime(2027, 2, 28, 1, 0, tzinfo=UTC))
    assert [(e["member_id"], e["birthday_on"]) for e in events()] == [(members["leap"][0], "2027-02-28")]
    run(identity_env, datetime(2027, 3, 1, 1, 0, tzinfo=UTC))
    assert len(events()) == 1  # nobody born on Mar 1 and no second Feb 29 greeting


def test_an_erased_member_gets_nothing_and_loses_her_marker(identity_env: Clock, members: Members) -> None:  # noqa: F811
    _, context = members["nov23"]
    status, _ = call(member_event("DELETE", "/v1/members/me", context))
    assert status == 204
    run(identity_env, NOV_23_0900)
    assert [e["member_id"] for e in events()] == [members["nov23b"][0]]
    # the other one's marker exists; erasing her removes it (it would date her birthday)
    other_id, other_context = members["nov23b"]
    assert any(i["pk"] == f"MEMBER#{other_id}" and i["sk"] == "BIRTHDAY#2026" for i in items())
    call(member_event("DELETE", "/v1/members/me", other_context))
    assert not any(i["pk"] == f"MEMBER#{other_id}" and str(i["sk"]).startswith("BIRTHDAY#") for i in items())


def test_a_birthday_changed_after_the_greeting_is_not_greeted_twice_that_year(
    identity_env: Clock,  # noqa: F811
    members: Members,
) -> None:
    run(identity_env, NOV_23_0900)
    _, context = members["nov23"]
    identity_env.now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    status, _ = call(member_event("PATCH", "/v1/members/me", context, {"birthday": "1990-11-24"}))
    assert status == 200
    run(identity_env, datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    greeted = sorted(e["member_id"] for e in events())
    assert greeted == sorted([members["nov23"][0], members["nov23b"][0], members["nov24"][0]])


def test_month_mode_greets_the_whole_month_on_the_first(
    identity_env: Clock,  # noqa: F811
    members: Members,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIRTHDAY_MODE", "month")
    run(identity_env, datetime(2026, 11, 1, 1, 0, tzinfo=UTC))
    got = sorted((e["birthday_on"], e["mode"]) for e in events())
    assert got == [("2026-11-23", "month"), ("2026-11-23", "month"), ("2026-11-24", "month")]
    run(identity_env, datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
    assert len(events()) == 3
