"""Points adjustments by staff (DESIGN §7 "four eyes"): a request with a reason creates a *pending*
adjustment; only a **different** staff member can approve it (then the points move through the
ledger, with ``PointsAdjusted``) or reject it (``PointsAdjustmentRejected``). Requests,
approvals and rejections are written to the audit log in the same transaction as the change.

Tickets' ``PointsAdjustmentRequested`` (contract D) creates the same pending adjustment,
once per ``request_id``.

A **reversal** is the same workflow: the request names one of the member's movements
(``reverses``) instead of points; it is checked when asked (the movement is the member's, staff may
reverse its kind, it is not reversed yet — logic/reversals.py) and applied on approval as one
``reversal`` movement (``ledger.reverse``), at most once per movement (the ledger's marker in the
same transaction). An approval repeated by the person who approved answers the applied adjustment
again (a retry); anyone else gets 409 ``adjustment_not_pending``.

An **erased** member's adjustment is never decided: the MemberErased consumer closes pending ones
(``rejected`` / ``member_erased``, under the pseudonym), a request for an erased member is refused
and an approval or rejection that meets the erasure tombstone closes the adjustment the same way
(dal/adjustments.py) — all answered 409 ``member_erased``, with no event naming the member (ledger
contract: erased members are never named in events).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.loyalty.logic.ledger_records import Movement
from services.loyalty.logic.reversals import check_reversible, reversal_points
from services.loyalty.logic.wallet_errors import (
    AdjustmentNotFound,
    AdjustmentNotPending,
    MemberErasedError,
    MovementNotFound,
    RequestReplayConflict,
    SelfApproval,
)
from services.loyalty.models.adjustments import Adjustment


@dataclass(frozen=True)
class Created:
    adjustment: Adjustment
    replayed: bool


class MovementReader(Protocol):
    """The member's ledger as a reversal request needs it (by member id: the store pseudonymises)."""

    def movement(self, member_id: str, movement_id: str) -> Movement | None:
        """The member's movement (None: not theirs, or no such movement)."""

    def reversed_by(self, member_id: str, movement_id: str) -> str | None:
        """The id of the movement's reversal, None when it was not reversed."""


class RewardReturns(Protocol):
    """The wallet side of reversing a reward's redemption (dal/rewards.py)."""

    def reward_return(self, member_id: str, movement: Movement) -> object | None:
        """What the reversal undoes besides the points (None: nothing); raises 409
        ``reward_coupon_used`` when the coupon the reward issued was used."""


class AdjustmentRepository(Protocol):
    def create(self, adjustment: Adjustment, *, request_key: str | None) -> Adjustment | None:
        """Store the pending adjustment (+ queue entry, audit); with ``request_key`` once: the
        adjustment stored earlier under that key when it exists (then nothing is written).
        Raises :class:`MemberErasedError` (nothing written) when the member was erased."""

    def get(self, adjustment_id: str) -> Adjustment | None: ...

    def by_request(self, request_key: str) -> Adjustment | None:
        """The adjustment created earlier under ``request_key`` (None: none)."""

    def pending(self, limit: int) -> list[Adjustment]: ...

    def apply(
        self, adjustment: Adjustment, approver: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        """Move the points and mark it applied in one transaction; None when no longer pending.
        Raises :class:`MemberErasedError` when the member was erased (the adjustment is closed)."""

    def reject(
        self, adjustment: Adjustment, rejecter: str, reason: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        """Mark it rejected (audit, event); None when no longer pending. Raises
        :class:`MemberErasedError` when the member was erased (the adjustment is closed)."""


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


def request_reversal(
    *,
    member_id: str,
    movement_id: str,
    reason: str,
    requested_by: str,
    repo: AdjustmentRepository,
    ledger: MovementReader,
    now: datetime,
    new_id: Callable[[], str],
    request_key: str | None = None,
    returns: RewardReturns | None = None,
) -> Created:
    """A pending adjustment reversing one of the member's movements (a retry with the same
    ``request_key`` answers the stored one, 409 ``request_id_reused`` when it named another
    member or movement): 404 ``movement_not_found``
    (unknown, or another member's), 409 ``movement_is_reversal`` / ``movement_already_reversed``,
    ``reward_coupon_used`` (a redemption whose coupon was used: checked again when approved),
    422 ``movement_not_reversible``; nothing is written when refused."""
    from services.loyalty.logic.ledger import AlreadyReversed  # noqa: PLC0415 - cold start

    if request_key is not None:
        # A retry answers what was stored, whatever happened since (approved, rejected): the
        # movement checks below would refuse a movement reversed by this very request.
        earlier = repo.by_request(request_key)
        if earlier is not None:
            same_member = earlier.member_id == member_id or closed_by_erasure(earlier)
            if not same_member or earlier.reverses != movement_id:
                raise RequestReplayConflict()
            return Created(earlier, replayed=True)
    movement = ledger.movement(member_id, movement_id)
    if movement is None:
        raise MovementNotFound()
    check_reversible(movement)
    if ledger.reversed_by(member_id, movement_id) is not None:
        raise AlreadyReversed()
    if returns is not None:
        returns.reward_return(member_id, movement)
    adjustment = Adjustment(
        adjustment_id=new_id(),
        member_id=member_id,
        points=reversal_points(movement),
        reason=reason,
        source="staff",
        requested_by=requested_by,
        requested_at=now,
        reverses=movement_id,
    )
    earlier = repo.create(adjustment, request_key=request_key)
    if earlier is not None:
        return Created(earlier, replayed=True)
    return Created(adjustment, replayed=False)


def closed_by_erasure(adjustment: Adjustment) -> bool:
    return adjustment.status == "rejected" and adjustment.rejection_reason == "member_erased"


def _pending(adjustment_id: str, repo: AdjustmentRepository) -> Adjustment:
    adjustment = repo.get(adjustment_id)
    if adjustment is None:
        raise AdjustmentNotFound()
    if closed_by_erasure(adjustment):
        raise MemberErasedError()
    if adjustment.status != "pending":
        raise AdjustmentNotPending()
    return adjustment


def approve_adjustment(
    adjustment_id: str, approver: str, repo: AdjustmentRepository, *, now: datetime, correlation_id: str
) -> Adjustment:
    """403 ``second_approver_required`` for the requester; 409 when already decided (but the
    approver's own retry of an applied adjustment answers it again: nothing moves twice); 409
    ``member_erased`` when the member was erased (closed, nothing moves)."""
    adjustment = repo.get(adjustment_id)
    if adjustment is None:
        raise AdjustmentNotFound()
    if adjustment.status == "applied" and adjustment.decided_by == approver:
        return adjustment
    if closed_by_erasure(adjustment):
        raise MemberErasedError()
    if adjustment.status != "pending":
        raise AdjustmentNotPending()
    if approver == adjustment.requested_by:
        raise SelfApproval()
    applied = repo.apply(adjustment, approver, now, correlation_id)
    if applied is None:
        # Decided meanwhile: by this approver's concurrent retry (answer it), or by someone else.
        now_stored = repo.get(adjustment_id)
        if now_stored is not None and now_stored.status == "applied" and now_stored.decided_by == approver:
            return now_stored
        if now_stored is not None and closed_by_erasure(now_stored):
            raise MemberErasedError()
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
