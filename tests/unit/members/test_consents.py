"""Consents: validation of decisions, what changes, the opt-in view, retries on concurrent writes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.members.logic.consents import (
    CATALOGUE,
    ConsentConflict,
    ConsentKey,
    ConsentPlan,
    ConsentState,
    MemberNotFound,
    apply_decisions,
    current_view,
    is_granted,
    plan_changes,
    plan_initial,
)
from services.members.models.consents import Channel, ConsentIn, ConsentsUpdate, Purpose

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01JD0000000000000000000AAA"
_ids = itertools.count()


def new_id() -> str:
    return f"01JDLOG{next(_ids):019d}"


def decision(
    purpose: Purpose = "marketing",
    channel: Channel | None = "sms",
    granted: bool = True,
    text_version: str = "v1",
) -> ConsentIn:
    return ConsentIn(purpose=purpose, channel=channel, granted=granted, text_version=text_version)


def state(
    purpose: Purpose = "marketing",
    channel: Channel | None = "sms",
    granted: bool = True,
    text_version: str = "v1",
    at: datetime = NOW,
) -> ConsentState:
    return ConsentState(
        purpose=purpose,
        channel=channel,
        granted=granted,
        text_version=text_version,
        changed_at=at,
        source="member",
    )


# --- validation --------------------------------------------------------------------------------


def test_the_catalogue_is_marketing_per_channel_and_the_other_purposes_once():
    assert len(CATALOGUE) == 4 + 4
    assert ("marketing", "wechat") in CATALOGUE
    assert ("share_with_parking_operator", None) in CATALOGUE
    assert ("car_plates", None) in CATALOGUE


@pytest.mark.parametrize(
    "raw",
    [
        {"purpose": "telemarketing", "granted": True, "text_version": "v1"},
        {"purpose": "marketing", "channel": "fax", "granted": True, "text_version": "v1"},
        {"purpose": "marketing", "granted": True, "text_version": "v1"},
        {"purpose": "car_plates", "channel": "sms", "granted": True, "text_version": "v1"},
        {"purpose": "personalisation", "granted": "yes", "text_version": "v1"},
        {"purpose": "personalisation", "granted": True, "text_version": ""},
        {"purpose": "personalisation", "granted": True, "text_version": "v1", "extra": 1},
    ],
)
def test_bad_decisions_are_refused(raw):
    with pytest.raises(ValidationError):
        ConsentIn.model_validate(raw)


def test_the_same_consent_twice_in_one_request_is_refused():
    with pytest.raises(ValidationError, match="appears twice"):
        ConsentsUpdate.model_validate(
            {
                "consents": [
                    {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "v1"},
                    {"purpose": "marketing", "channel": "sms", "granted": False, "text_version": "v1"},
                ]
            }
        )
    with pytest.raises(ValidationError):
        ConsentsUpdate.model_validate({"consents": []})


# --- planning ----------------------------------------------------------------------------------


def test_a_new_decision_is_a_change_with_an_event():
    plan = plan_changes(MEMBER, {}, [decision()], now=NOW, new_id=new_id, source="member")
    assert len(plan.changes) == 1
    event = plan.changes[0].event()
    assert (event.member_id, event.purpose, event.channel, event.granted) == (
        MEMBER,
        "marketing",
        "sms",
        True,
    )
    assert event.changed_at == NOW and event.text_version == "v1"


def test_the_first_refusal_is_recorded_too():
    plan = plan_changes(MEMBER, {}, [decision(granted=False)], now=NOW, new_id=new_id, source="member")
    assert [c.new.granted for c in plan.changes] == [False]


def test_an_identical_decision_is_a_no_op():
    current: dict[ConsentKey, ConsentState] = {("marketing", "sms"): state()}
    plan = plan_changes(MEMBER, current, [decision()], now=NOW, new_id=new_id, source="member")
    assert plan.changes == ()


def test_a_withdrawal_and_a_new_text_version_are_changes():
    current: dict[ConsentKey, ConsentState] = {
        ("marketing", "sms"): state(),
        ("personalisation", None): state("personalisation", None),
    }
    decisions = [decision(granted=False), decision("personalisation", None, True, "v2")]
    plan = plan_changes(MEMBER, current, decisions, now=NOW, new_id=new_id, source="member")
    seen = []
    for c in plan.changes:
        assert c.previous is not None  # both decisions change a stored consent
        seen.append((c.new.key, c.new.granted, c.previous.granted))
    assert seen == [
        (("marketing", "sms"), False, True),
        (("personalisation", None), True, True),
    ]


def test_registration_records_every_initial_decision():
    plan = plan_initial(MEMBER, [decision(), decision("car_plates", None, False)], now=NOW, new_id=new_id)
    assert {c.new.source for c in plan.changes} == {"registration"}
    assert len(plan.changes) == 2


def test_absent_is_not_granted_in_the_view():
    current: dict[ConsentKey, ConsentState] = {("marketing", "email"): state(channel="email")}
    view = current_view(current)
    assert len(view) == len(CATALOGUE)
    assert is_granted(current, "marketing", "email")
    assert not is_granted(current, "marketing", "sms")


# --- applying ----------------------------------------------------------------------------------


class FakeRepo:
    def __init__(self, *, active: bool = True, fail_applies: int = 0) -> None:
        self.active = active
        self.stored: dict[ConsentKey, ConsentState] = {}
        self.fail_applies = fail_applies
        self.applied: list[ConsentPlan] = []

    def member_active(self, member_id: str) -> bool:
        return self.active

    def current(self, member_id: str) -> dict[ConsentKey, ConsentState]:
        return dict(self.stored)

    def apply(self, plan: ConsentPlan, *, correlation_id: str, producer: str) -> bool:
        if not self.active:
            return False
        if self.fail_applies:
            self.fail_applies -= 1
            return False
        self.applied.append(plan)
        for change in plan.changes:
            self.stored[change.new.key] = change.new
        return True


def _apply(repo, decisions):
    return apply_decisions(
        MEMBER, decisions, repo, now=lambda: NOW, new_id=new_id, correlation_id="c", producer="tests"
    )


def test_apply_writes_changes_once_and_reports_no_op():
    repo = FakeRepo()
    assert _apply(repo, [decision()]).changed == 1
    again = _apply(repo, [decision()])
    assert again.changed == 0
    assert len(repo.applied) == 1


def test_apply_for_an_unknown_or_erased_member_is_404():
    with pytest.raises(MemberNotFound):
        _apply(FakeRepo(active=False), [decision()])
    with pytest.raises(MemberNotFound):
        _apply(FakeRepo(active=False), [])


def test_apply_retries_a_lost_race_then_gives_up_with_409():
    repo = FakeRepo(fail_applies=2)
    assert _apply(repo, [decision()]).changed == 1
    with pytest.raises(ConsentConflict):
        _apply(FakeRepo(fail_applies=5), [decision(granted=False, text_version="v9")])


def test_changed_at_is_the_time_of_the_decision():
    repo = FakeRepo()
    later = NOW + timedelta(days=1)
    apply_decisions(
        MEMBER, [decision()], repo, now=lambda: later, new_id=new_id, correlation_id="c", producer="tests"
    )
    assert repo.stored[("marketing", "sms")].changed_at == later


def test_only_a_car_plates_withdrawal_unlinks_plates():
    from services.members.logic.consents import withdraws_car_plates

    def plan(current, *decisions):
        return plan_changes("M1", current, list(decisions), now=NOW, new_id=new_id, source="member")

    granted = {("car_plates", None): state("car_plates", None, granted=True)}
    assert withdraws_car_plates(plan(granted, decision("car_plates", None, granted=False)))
    assert withdraws_car_plates(plan({}, decision("car_plates", None, granted=False)))
    assert not withdraws_car_plates(plan(granted, decision("car_plates", None, granted=True)))
    assert not withdraws_car_plates(plan({}, decision("marketing", "sms", granted=False)))
    refused = {("car_plates", None): state("car_plates", None, granted=False)}
    assert not withdraws_car_plates(plan(refused, decision("car_plates", None, granted=False)))
