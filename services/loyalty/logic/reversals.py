"""Which points movements staff may reverse (pure; the reversal itself is ``ledger.reverse``).

A reversal is requested like a points adjustment, naming the movement (``reverses``) instead of
points, and applied only when a second staff member approves it (logic/adjustments.py). The rules:

* a reversal is not reversed (409 ``movement_is_reversal``): undoing it would be a plain
  adjustment, and chains of reversals make the audit trail unreadable;
* a movement is reversed at most once (409 ``movement_already_reversed``): checked when asked and
  again, race-safe, by the ledger's marker written in the reversal's transaction;
* kinds that are not staff's to undo (422 ``movement_not_reversible``, the reason in ``fields``):
  ``pending`` and ``release`` (the return window's bookkeeping; a purchase's points follow the
  purchase: record a refund), an ``earn`` of a purchase (same: a refund claws it back, and a
  reversal beside a later refund would take the points twice), ``refund_clawback`` (belongs to
  the refund it came with), ``expire`` (the expiry policy applied; a goodwill gesture is a
  positive adjustment, a fresh lot with its own expiry).

Reversible: ``earn`` without a purchase (campaign awards, receipt claims, parking credits),
``redeem`` (a reward or parking offset given back) and ``adjustment`` (either sign).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from services.loyalty.logic.ledger_records import Movement, MovementKind
from services.loyalty.logic.wallet_errors import MovementIsReversal, MovementNotReversible

NOT_REVERSIBLE: Final[Mapping[MovementKind, str]] = {
    "pending": "Pending purchase points follow the purchase: record a refund.",
    "release": "A release only makes pending points available; nothing to undo.",
    "refund_clawback": "A clawback belongs to its refund; it is not reversed by staff.",
    "expire": "Expired under the expiry policy; grant goodwill with a points adjustment.",
}
PURCHASE_EARN = "A purchase's points follow the purchase: record a refund."


def refusal(movement: Movement) -> str | None:
    """Why staff may not reverse ``movement`` (422), None when they may. A reversal is refused
    separately (409, :func:`check_reversible`)."""
    if movement.kind in NOT_REVERSIBLE:
        return NOT_REVERSIBLE[movement.kind]
    if movement.kind == "earn" and movement.purchase_id is not None:
        return PURCHASE_EARN
    if movement.points == 0:
        return "The movement moved no points."
    return None


def check_reversible(movement: Movement) -> None:
    """Raise 409 :class:`MovementIsReversal` or 422 :class:`MovementNotReversible` (with the
    reason on the field ``reverses``); return when staff may reverse it."""
    if movement.kind == "reversal":
        raise MovementIsReversal()
    why = refusal(movement)
    if why is not None:
        raise MovementNotReversible(fields=[{"field": "reverses", "message": why}])


def reversal_points(movement: Movement) -> int:
    """What the reversal moves (signed): the opposite of the movement."""
    return -movement.points
