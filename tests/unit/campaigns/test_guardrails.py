"""Send-time guardrails, pure: quiet hours, periods, slot planning with priority, channel choice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.campaigns.logic.guardrails import (
    Consents,
    Holder,
    Limits,
    QuietHours,
    ceil_minute,
    choose_channel,
    day_key,
    next_day_start,
    next_week_start,
    plan_hold,
    week_key,
)
from services.campaigns.models.dispatch import SendRequest, render
from shared import clock

ZONE = clock.zone("Asia/Shanghai")
QUIET = QuietHours(21, 9)


def utc(local_day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC instant for 2026-11-<local_day> <hour>:<minute> in Shanghai."""
    return datetime(2026, 11, local_day, hour, minute, tzinfo=ZONE).astimezone(UTC)


@pytest.mark.parametrize(
    ("at", "end"),
    [
        (utc(23, 8, 59), utc(23, 9)),  # early morning: until 09:00 the same day
        (utc(23, 21, 0), utc(24, 9)),  # evening: until 09:00 the next day
        (utc(23, 23, 59), utc(24, 9)),
        (utc(23, 9, 0), None),  # the day
        (utc(23, 20, 59), None),
    ],
)
def test_quiet_hours_end_in_the_mall_zone(at: datetime, end: datetime | None) -> None:
    assert QUIET.end_if_quiet(at, ZONE) == end


def test_quiet_hours_within_a_day_and_disabled() -> None:
    lunch = QuietHours(12, 14)
    assert lunch.end_if_quiet(utc(23, 13), ZONE) == utc(23, 14)
    assert lunch.end_if_quiet(utc(23, 15), ZONE) is None
    assert QuietHours(9, 9).end_if_quiet(utc(23, 3), ZONE) is None


def test_periods_are_local_days_and_iso_weeks() -> None:
    sunday_late = utc(29, 23, 30)  # Sunday in Shanghai, still Sunday 15:30 UTC
    assert day_key(sunday_late, ZONE) == "2026-11-29"
    assert week_key(sunday_late, ZONE) == "2026-W48"
    assert next_day_start(sunday_late, ZONE) == utc(30, 0)
    assert next_week_start(sunday_late, ZONE) == utc(30, 0)
    assert week_key(utc(30, 0, 1), ZONE) == "2026-W49"
    # 00:30 local on the 24th is still the 23rd in UTC: the local day decides
    assert day_key(utc(24, 0, 30), ZONE) == "2026-11-24"


def test_ceil_minute() -> None:
    exact = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert ceil_minute(exact) == exact
    assert ceil_minute(exact.replace(second=1)) == datetime(2026, 11, 23, 1, 1, tzinfo=UTC)


def holder(send_id: str, priority: int, state: str = "held", at: str = "2026-11-23T02:00:00Z") -> Holder:
    return Holder(send_id, priority, state, at)  # type: ignore[arg-type]


LIMITS = Limits(per_day=1, per_week=3)


def test_a_free_slot_is_taken_and_taking_it_again_is_idempotent() -> None:
    assert plan_hold({}, {}, LIMITS, "s1", 10).ok
    mine = {"s1": holder("s1", 10)}
    assert plan_hold(mine, mine, LIMITS, "s1", 10).ok


def test_a_higher_priority_evicts_the_lowest_held_one_latest_first() -> None:
    day = {
        "a": holder("a", 20, at="2026-11-23T02:00:00Z"),
        "b": holder("b", 20, at="2026-11-23T02:00:30Z"),
        "c": holder("c", 40),
    }
    plan = plan_hold(day, day, Limits(per_day=3, per_week=9), "new", 50)
    assert (plan.ok, plan.victim) == (True, "b")


def test_equal_or_lower_priority_and_sent_slots_are_never_taken() -> None:
    held = {"a": holder("a", 50)}
    assert not plan_hold(held, held, LIMITS, "new", 50).ok
    sent = {"a": holder("a", 10, state="sent")}
    refused = plan_hold(sent, sent, LIMITS, "new", 100)
    assert (refused.ok, refused.reason) == (False, "frequency_cap_day")


def test_the_week_cap_names_itself() -> None:
    week = {f"w{i}": holder(f"w{i}", 10, state="sent") for i in range(3)}
    refused = plan_hold({}, week, LIMITS, "new", 90)
    assert (refused.ok, refused.reason) == (False, "frequency_cap_week")


def request(
    kind: str = "marketing", send_id: str = "cmp#c#m", channels: tuple[str, ...] = ("wechat", "sms", "inbox")
) -> SendRequest:
    return SendRequest.model_validate(
        {
            "send_id": send_id,
            "kind": kind,
            "member_id": "m",
            "channels": list(channels),
            "content": {c: {"body": "x"} for c in channels},
            "requested_at": "2026-11-23T00:00:00Z",
        }
    )


def test_channel_choice_follows_preference_and_consent() -> None:
    assert choose_channel(request(), Consents(frozenset({"sms", "inbox"}))).channel == "sms"
    assert choose_channel(request(), Consents(frozenset())).reason == "no_consent"
    withdrawn = Consents(frozenset({"sms"}), personalisation_withdrawn=True)
    assert choose_channel(request(), withdrawn).reason == "personalisation_withdrawn"
    assert choose_channel(request(send_id="jrn#birthday#m#2026"), withdrawn).channel == "sms"
    note = request("transactional", "ntf#n1")
    assert choose_channel(note, Consents(frozenset())).channel == "inbox"
    assert choose_channel(note, Consents(frozenset({"wechat"}))).channel == "wechat"
    sms_only = request("transactional", "ntf#n2", channels=("sms",))
    assert choose_channel(sms_only, Consents(frozenset())).reason == "no_consent"


def test_channel_choice_skips_the_channels_already_tried() -> None:
    both = Consents(frozenset({"wechat", "sms"}))
    assert choose_channel(request(), both, ("wechat",)).channel == "sms"
    assert choose_channel(request(), both, ("wechat", "sms")).reason == "no_consent"
    note = request("transactional", "ntf#n1")
    assert choose_channel(note, both, ("wechat",)).channel == "sms"
    assert choose_channel(note, both, ("wechat", "sms")).channel == "inbox"


def test_send_request_contract_refuses_what_dispatch_cannot_send() -> None:
    with pytest.raises(ValueError, match="no content for channel"):
        SendRequest.model_validate(
            {
                "send_id": "cmp#c#m",
                "kind": "marketing",
                "member_id": "m",
                "channels": ["sms"],
                "content": {},
                "requested_at": "2026-11-23T00:00:00Z",
            }
        )
    with pytest.raises(ValueError, match="transactional send_id"):
        request("transactional", "cmp#c#m")
    with pytest.raises(ValueError, match="marketing send_id"):
        request("marketing", "ntf#n")
    with pytest.raises(ValueError):
        request(send_id="nope")
    assert SendRequest.parse(request().model_dump_json()[:-1] + ',"future_field": 1}').send_id == "cmp#c#m"
    assert render("{name}, {unknown}", {"name": "Li"}) == "Li, {unknown}"


def test_a_holder_is_taken_only_until_its_window_closes() -> None:
    # ``until``: the window's end (less the clock margin), fixed-width ISO like clock.to_utc_iso
    until = "2026-11-23T02:00:55.000000Z"
    day = {"a": Holder("a", 10, "held", "2026-11-23T02:00:00.000000Z", until)}
    before = plan_hold(day, day, LIMITS, "new", 90, now="2026-11-23T02:00:54.999999Z")
    assert (before.ok, before.victim) == (True, "a")
    closed = plan_hold(day, day, LIMITS, "new", 90, now=until)
    assert (closed.ok, closed.reason) == (False, "frequency_cap_day")
    # a holder written before windows carried their end is taken while held, whatever the time
    legacy = {"a": holder("a", 10)}
    assert plan_hold(legacy, legacy, LIMITS, "new", 90, now="2026-11-30T00:00:00.000000Z").victim == "a"
