"""A complaint about a marketing message, pure: which withdrawal it makes (or why none), newest
decision wins, once per event, erased members left alone, retries on concurrent changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.members.logic.complaints import (
    ApplyResult,
    Complaint,
    ComplaintConflict,
    plan_complaint,
    record_complaint,
)
from services.members.logic.consents import ConsentKey, ConsentPlan, ConsentState
from services.members.models.consents import Channel, ConsentSource

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
COMPLAINED = NOW - timedelta(minutes=10)
MEMBER = "01JD0000000000000000000AAA"
_ids = itertools.count()


def new_id() -> str:
    return f"01JDLOG{next(_ids):019d}"


def state(
    channel: Channel | None = "email",
    granted: bool = True,
    at: datetime = NOW - timedelta(days=30),
    source: ConsentSource = "member",
) -> ConsentState:
    return ConsentState(
        purpose="marketing",
        channel=channel,
        granted=granted,
        text_version="mkt-2026-11",
        changed_at=at,
        source=source,
    )


def complaint(at: datetime = COMPLAINED, event_id: str = "evt-1") -> Complaint:
    return Complaint(event_id=event_id, member_id=MEMBER, channel="email", complained_at=at)


def test_a_complaint_withdraws_granted_email_marketing_at_the_complaints_time() -> None:
    current: dict[ConsentKey, ConsentState] = {
        ("marketing", "email"): state(),
        ("marketing", "sms"): state("sms"),
    }
    plan, outcome = plan_complaint(complaint(), current, now=NOW, new_id=new_id)
    assert outcome == "withdrawn"
    [change] = plan.changes
    assert (change.member_id, change.new.key, change.new.granted) == (MEMBER, ("marketing", "email"), False)
    # dated at the complaint, recorded as one, on the text the member had granted on
    assert (change.new.changed_at, change.new.source, change.new.text_version) == (
        COMPLAINED,
        "complaint",
        "mkt-2026-11",
    )
    assert change.previous == current[("marketing", "email")]
    event = change.event()  # the MemberConsentChanged every withdrawal publishes
    assert (event.purpose, event.channel, event.granted, event.changed_at) == (
        "marketing",
        "email",
        False,
        COMPLAINED,
    )


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ({}, "not_granted"),  # never decided: absent = not granted, nothing to withdraw
        ({("marketing", "email"): state(granted=False)}, "not_granted"),
        ({("marketing", "sms"): state("sms")}, "not_granted"),  # another channel is not touched
        # the member granted e-mail again after the complaint: their decision stands
        ({("marketing", "email"): state(at=COMPLAINED + timedelta(seconds=1))}, "decided_later"),
    ],
)
def test_a_complaint_changes_nothing_when_email_marketing_is_not_granted_or_decided_later(
    current: dict[ConsentKey, ConsentState], expected: str
) -> None:
    plan, outcome = plan_complaint(complaint(), current, now=NOW, new_id=new_id)
    assert (plan.changes, outcome) == ((), expected)


def test_a_grant_at_the_complaints_very_moment_is_withdrawn() -> None:
    # equal times: the complaint is about a message the grant let through (the grant came first)
    current: dict[ConsentKey, ConsentState] = {("marketing", "email"): state(at=COMPLAINED)}
    _, outcome = plan_complaint(complaint(), current, now=NOW, new_id=new_id)
    assert outcome == "withdrawn"


def test_a_complaint_dated_in_the_future_is_withdrawn_now() -> None:
    # a provider clock ahead of ours must not outrank the member's next decision (made at "now")
    plan, _ = plan_complaint(
        complaint(at=NOW + timedelta(minutes=5)), {("marketing", "email"): state()}, now=NOW, new_id=new_id
    )
    assert plan.changes[0].new.changed_at == NOW


class Repo:
    """The repository's contract in memory: the member's consents, the event markers, and
    concurrent changes injected before a write."""

    def __init__(self, current: dict[ConsentKey, ConsentState], *, active: bool = True) -> None:
        self.consents = dict(current)
        self.active = active
        self.markers: set[str] = set()
        self.applied_plans: list[ConsentPlan] = []
        self.interfere: list[ConsentState] = []  # one concurrent change per write attempt
        self.erase_before_write = False

    def member_active(self, member_id: str) -> bool:
        return self.active

    def current(self, member_id: str) -> dict[ConsentKey, ConsentState]:
        return dict(self.consents)

    def apply_complaint(
        self, plan: ConsentPlan, *, event_id: str, correlation_id: str, producer: str
    ) -> ApplyResult:
        if self.erase_before_write:
            self.active = False
        if self.interfere:
            changed = self.interfere.pop(0)
            self.consents[changed.key] = changed
        if event_id in self.markers:
            return "duplicate"
        if not self.active or any(self.consents.get(c.new.key) != c.previous for c in plan.changes):
            return "conflict"
        self.markers.add(event_id)
        self.applied_plans.append(plan)
        self.consents.update({c.new.key: c.new for c in plan.changes})
        return "applied"


def record(repo: Repo, event: Complaint | None = None) -> str:
    return record_complaint(
        event or complaint(), repo, now=lambda: NOW, new_id=new_id, correlation_id="c-1", producer="test"
    )


def test_a_complaint_is_recorded_once_per_event() -> None:
    repo = Repo({("marketing", "email"): state()})
    assert record(repo) == "withdrawn"
    assert record(repo) == "not_granted"  # redelivered: withdrawn already, nothing written
    assert len(repo.applied_plans) == 1 and repo.markers == {"evt-1"}
    assert repo.consents[("marketing", "email")].source == "complaint"


def test_the_same_event_after_the_member_granted_again_writes_nothing() -> None:
    repo = Repo({("marketing", "email"): state()})
    assert record(repo) == "withdrawn"
    repo.consents[("marketing", "email")] = state(at=NOW)  # the member opted in again since
    assert record(repo) == "decided_later"
    assert repo.consents[("marketing", "email")].granted is True


def test_a_redelivery_racing_its_first_delivery_is_a_duplicate() -> None:
    repo = Repo({("marketing", "email"): state()})
    repo.markers.add("evt-1")  # the first delivery's transaction won between our read and write
    assert record(repo) == "duplicate"
    assert repo.applied_plans == []


def test_an_erased_member_is_left_alone() -> None:
    repo = Repo({}, active=False)
    assert record(repo) == "member_inactive"
    repo = Repo({("marketing", "email"): state()})
    repo.erase_before_write = True  # erased between the read and the write
    assert record(repo) == "member_inactive"
    assert repo.applied_plans == [] and repo.markers == set()


def test_a_decision_made_while_the_complaint_is_applied_is_read_again() -> None:
    repo = Repo({("marketing", "email"): state()})
    repo.interfere = [state(at=NOW - timedelta(days=1))]  # the member changed text version meanwhile
    assert record(repo) == "withdrawn"
    [plan] = repo.applied_plans
    assert plan.changes[0].previous == state(at=NOW - timedelta(days=1))

    repo = Repo({("marketing", "email"): state()})
    repo.interfere = [state(at=NOW - timedelta(days=1))]
    repo.interfere.append(state(at=COMPLAINED + timedelta(seconds=30)))  # then re-granted after it
    assert record(repo) == "decided_later"


def test_changes_that_keep_winning_fail_the_record_for_a_retry() -> None:
    repo = Repo({("marketing", "email"): state()})
    repo.interfere = [state(at=NOW - timedelta(days=n)) for n in (3, 2, 1)]
    with pytest.raises(ComplaintConflict):
        record(repo)
    assert repo.applied_plans == []
