"""Points adjustments by staff (DESIGN §7 "four eyes"): a request with a reason creates a *pending*
adjustment; only a **different** staff member can approve it (then the points move through the
ledger, with ``PointsAdjusted``) or reject it (``PointsAdjustmentRejected``). Requests,
approvals and rejections are written to the audit log in the same transaction as the change.

Tickets' ``PointsAdjustmentRequested`` (contract D) creates the same pending adjustment,
once per ``request_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.loyalty.logic.wallet_errors import AdjustmentNotFound, AdjustmentNotPending, SelfApproval
from services.loyalty.models.adjustments import Adjustment


@dataclass(frozen=True)
class Created:
    adjustment: Adjustment
    replayed: bool


class AdjustmentRepository(Protocol):
    def create(self, adjustment: Adjustment, *, request_key: str | None) -> Adjustment | None:
        """Store the pending adjustment (+ queue entry, audit); with ``request_key`` once: the
        adjustment stored earlier under that key when it exists (then nothing is written)."""

    def get(self, adjustment_id: str) -> Adjustment | None: ...

    def pending(self, limit: int) -> list[Adjustment]: ...

    def apply(
        self, adjustment: Adjustment, approver: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        """Move the points and mark it applied in one transaction; None when no longer pending."""

    def reject(
        self, adjustment: Adjustment, rejecter: str, reason: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        """Mark it rejected (audit, event); None when no longer pending."""


def request_adjustment(
    *,
    member_id: str,
    points: int,
    reason: str,
    requested_by: str,
    repo: AdjustmentRepository,
    now: datetime,
    new_id: Callable[[], str],
    ticket_id: str | None = None,
    request_key: str | None = None,
) -> Created:
    adjustment = Adjustment(
        adjustment_id=new_id(),
        member_id=member_id,
        points=points,
        reason=reason,
        ticket_id=ticket_id,
        source="ticket" if ticket_id else "staff",
        requested_by=requested_by,
        requested_at=now,
    )
    earlier = repo.create(adjustment, request_key=request_key)
    if earlier is not None:
        return Created(earlier, replayed=True)
    return Created(adjustment, replayed=False)


def _pending(adjustment_id: str, repo: AdjustmentRepository) -> Adjustment:
    adjustment = repo.get(adjustment_id)
    if adjustment is None:
        raise AdjustmentNotFound()
    if adjustment.status != "pending":
        raise AdjustmentNotPending()
    return adjustment


def approve_adjustment(
    adjustment_id: str, approver: str, repo: AdjustmentRepository, *, now: datetime, correlation_id: str
) -> Adjustment:
    """403 ``second_approver_required`` for the requester; 409 when already decided."""
    adjustment = _pending(adjustment_id, repo)
    if approver == adjustment.requested_by:
        raise SelfApproval()
    applied = repo.apply(adjustment, approver, now, correlation_id)
    if applied is None:
        raise AdjustmentNotPending()
    return applied


def reject_adjustment(
    adjustment_id: str,
    rejecter: str,
    reason: str,
    repo: AdjustmentRepository,
    *,
    now: datetime,
    correlation_id: str,
) -> Adjustment:
    """Anyone allowed to approve may reject, the requester too (withdrawing it)."""
    adjustment = _pending(adjustment_id, repo)
    rejected = repo.reject(adjustment, rejecter, reason, now, correlation_id)
    if rejected is None:
        raise AdjustmentNotPending()
    return rejected
