"""Applying events to the behaviour statistics, exactly once per event: loyalty's purchases,
refunds and parking sessions, tickets' resolutions and survey answers.

The statistics are read, changed in memory (:mod:`services.members.logic.stats`) and written back
under a version condition together with the consumer's idempotency marker, in one transaction:
a redelivered event changes nothing, and two events for one member at once cannot lose an update
(the loser re-reads and tries again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from enum import Enum
from typing import Protocol

from services.members.logic.stats import (
    apply_parking,
    apply_purchase,
    apply_refund,
    apply_survey,
    apply_ticket_resolved,
    empty_stats,
)
from services.members.models.entities import BehaviourStats
from shared.events.contracts import (
    ParkingSessionSettled,
    PurchaseRecorded,
    PurchaseRefunded,
    SurveyAnswered,
    TicketResolved,
)

MAX_ATTEMPTS = 5


class SaveOutcome(Enum):
    SAVED = "saved"
    DUPLICATE = "duplicate"
    VERSION_CONFLICT = "version_conflict"


class Applied(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    NO_MEMBER = "no_member"
    MEMBER_ERASED = "member_erased"


class StatsContention(RuntimeError):
    """The statistics kept changing under us; the record is retried by SQS."""


class StatsRepository(Protocol):
    def get(self, member_id: str) -> BehaviourStats | None: ...

    def save(self, stats: BehaviourStats, *, expected_version: int, event_id: str) -> SaveOutcome:
        """Write ``stats`` (with version ``expected_version + 1``) and the event's idempotency
        marker in one transaction, if the stored version is still ``expected_version``."""


def _apply_once(
    repo: StatsRepository,
    member_id: str,
    event_id: str,
    change: Callable[[BehaviourStats], BehaviourStats],
) -> Applied:
    for _ in range(MAX_ATTEMPTS):
        current = repo.get(member_id) or empty_stats(member_id)
        if current.erased:  # recorded as such (a metric), never written back into the scoring index
            return Applied.MEMBER_ERASED
        outcome = repo.save(change(current), expected_version=current.version, event_id=event_id)
        if outcome is SaveOutcome.SAVED:
            return Applied.APPLIED
        if outcome is SaveOutcome.DUPLICATE:
            return Applied.DUPLICATE
    raise StatsContention(f"statistics of one member changed {MAX_ATTEMPTS} times while applying an event")


def record_purchase(event_id: str, purchase: PurchaseRecorded, repo: StatsRepository, tz: tzinfo) -> Applied:
    """Count a recorded purchase in its member's statistics (purchases without a member are not ours)."""
    if purchase.member_id is None:
        return Applied.NO_MEMBER
    categories = [(item.category, item.amount_cents) for item in purchase.items]
    return _apply_once(
        repo,
        purchase.member_id,
        event_id,
        lambda stats: apply_purchase(
            stats,
            occurred_at=purchase.occurred_at,
            amount_cents=purchase.amount_cents,
            store_id=purchase.store_id,
            item_categories=categories,
            tz=tz,
        ),
    )


def record_refund(event_id: str, refund: PurchaseRefunded, repo: StatsRepository, tz: tzinfo) -> Applied:
    """Take a refund off its member's net spend."""
    if refund.member_id is None:
        return Applied.NO_MEMBER
    return _apply_once(
        repo,
        refund.member_id,
        event_id,
        lambda stats: apply_refund(
            stats, occurred_at=refund.occurred_at, amount_cents=refund.amount_cents, tz=tz
        ),
    )


def record_parking(
    event_id: str, session: ParkingSessionSettled, repo: StatsRepository, tz: tzinfo
) -> Applied:
    """Count a settled parking session as a visit (cars not tied to a member are not ours)."""
    if session.member_id is None:
        return Applied.NO_MEMBER
    return _apply_once(
        repo,
        session.member_id,
        event_id,
        lambda stats: apply_parking(stats, entered_at=session.entered_at, exited_at=session.exited_at, tz=tz),
    )


def record_ticket_resolved(event_id: str, ticket: TicketResolved, repo: StatsRepository) -> Applied:
    """Count a resolved ticket (and whether it was a complaint)."""
    if ticket.member_id is None:
        return Applied.NO_MEMBER
    return _apply_once(
        repo,
        ticket.member_id,
        event_id,
        lambda stats: apply_ticket_resolved(
            stats, category=ticket.category, resolved_at=ticket.resolved_at, opened_at=ticket.opened_at
        ),
    )


def record_survey(event_id: str, survey: SurveyAnswered, repo: StatsRepository) -> Applied:
    """Keep the member's latest satisfaction score."""
    if survey.member_id is None:
        return Applied.NO_MEMBER
    return _apply_once(
        repo,
        survey.member_id,
        event_id,
        lambda stats: apply_survey(stats, csat=survey.csat, answered_at=survey.answered_at),
    )
