"""A complaint about a marketing message is the member withdrawing that channel's marketing consent.

Campaigns publishes ``MarketingComplaintReceived`` when a provider reports that the member marked
one of its messages as spam (SES's complaint event for e-mail). Members owns consent, so it records
the withdrawal here, like any other consent change: the current item, a history entry with source
``complaint`` and ``MemberConsentChanged`` (which campaigns' consent projection consumes), in one
transaction with the check that the member is active and the event's idempotency marker.

Which decision wins is the rule every consent consumer follows (newest ``changed_at``): the
withdrawal is dated at the complaint (``complained_at``, never later than now, so a provider's
clock ahead of ours cannot outrank the member's next decision), and a decision the member made
after the complaint — recorded before the event arrived — is left as it is. Nothing is written
when e-mail marketing is not granted (withdrawn already, or never decided: absent = not granted),
for an erased or unknown member, or for an event applied before. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from services.members.logic.consents import (
    ConsentChange,
    ConsentKey,
    ConsentPlan,
    ConsentState,
)
from services.members.models.consents import Channel
from shared import clock

Outcome = Literal["withdrawn", "not_granted", "decided_later", "member_inactive", "duplicate"]
ApplyResult = Literal["applied", "duplicate", "conflict"]

MAX_ATTEMPTS = 3


class ComplaintConflict(RuntimeError):
    """The member's consents kept changing under the complaint (the record is retried)."""


@dataclass(frozen=True)
class Complaint:
    """What members needs of ``MarketingComplaintReceived``."""

    event_id: str
    member_id: str
    channel: Channel
    complained_at: datetime


def plan_complaint(
    complaint: Complaint,
    current: Mapping[ConsentKey, ConsentState],
    *,
    now: datetime,
    new_id: Callable[[], str],
) -> tuple[ConsentPlan, Outcome]:
    """The withdrawal a complaint makes (an empty plan and why, when it changes nothing).

    The withdrawal keeps the consent text version the member had granted on (the history then
    reads "granted on text X, withdrawn by a complaint"); ``source`` says where it came from."""
    empty = ConsentPlan(member_id=complaint.member_id, changes=())
    at = min(complaint.complained_at, now)
    previous = current.get(("marketing", complaint.channel))
    if previous is None or not previous.granted:
        return empty, "not_granted"
    if previous.changed_at > at:
        return empty, "decided_later"
    new = ConsentState(
        purpose="marketing",
        channel=complaint.channel,
        granted=False,
        text_version=previous.text_version,
        changed_at=at,
        source="complaint",
    )
    change = ConsentChange(member_id=complaint.member_id, new=new, previous=previous, log_id=new_id())
    return ConsentPlan(member_id=complaint.member_id, changes=(change,)), "withdrawn"


class ComplaintRepository(Protocol):
    def member_active(self, member_id: str) -> bool: ...

    def current(self, member_id: str) -> dict[ConsentKey, ConsentState]: ...

    def apply_complaint(
        self, plan: ConsentPlan, *, event_id: str, correlation_id: str, producer: str
    ) -> ApplyResult:
        """The plan + the event's idempotency marker + the member-active check, one transaction:
        ``duplicate`` when the marker was there, ``conflict`` when the member is no longer active
        or the consent changed since it was read (nothing written either way)."""


def record_complaint(
    complaint: Complaint,
    repo: ComplaintRepository,
    *,
    now: Callable[[], datetime] = clock.now,
    new_id: Callable[[], str],
    correlation_id: str,
    producer: str,
) -> Outcome:
    """Apply a complaint once (see the module doc). A redelivered event finds the consent withdrawn
    already (or a later decision), and its marker makes the write itself once-only. Raises
    :class:`ComplaintConflict` when concurrent consent changes keep winning: the message is retried
    by SQS and decided again on fresh reads."""
    for _ in range(MAX_ATTEMPTS):
        if not repo.member_active(complaint.member_id):
            return "member_inactive"
        plan, outcome = plan_complaint(complaint, repo.current(complaint.member_id), now=now(), new_id=new_id)
        if not plan.changes:
            return outcome
        result = repo.apply_complaint(
            plan, event_id=complaint.event_id, correlation_id=correlation_id, producer=producer
        )
        if result == "applied":
            return outcome
        if result == "duplicate":
            return "duplicate"
    raise ComplaintConflict(f"consent kept changing while complaint {complaint.event_id} was applied")
