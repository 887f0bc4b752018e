"""Attribution: purchases and coupon redemptions credited to the campaigns a member was assigned
to (any arm, controls included — that is what makes uplift measurable).

Where a member's assignments are: launched campaigns keep them in buckets (``ASSIGN#<campaign>#<n>``,
logic/launch.py) found through the launch index (``LAUNCHES``, the campaigns launched in the
last 30 days); triggered campaigns keep one item per member and occasion (``MEMBER#<id>`` /
``ASSIGN#…``).

A purchase at ``t`` counts for every assignment with ``assigned_at <= t <= attribution_until``:
``purchases`` +1, ``sales_cents`` +amount, and ``converted`` +1 the first time for that member and
campaign (a ``CONVERTED#<campaign>#<member>`` marker written in the same transaction). A
``CouponRedeemed`` with a ``campaign_id`` counts ``redemptions`` and ``discount_cents`` on the
member's arm. Idempotent on the event id (a marker per event and campaign in the transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from services.campaigns.logic.privacy import pseudonym

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.events.contracts import CouponRedeemed, PurchaseRecorded


@dataclass(frozen=True)
class AssignmentRow:
    campaign_id: str
    arm: str
    assigned_at: datetime
    attribution_until: datetime


class AttributionRepository(Protocol):
    def assignments(
        self, member_id: str, at: datetime, campaign_id: str | None = None
    ) -> list[AssignmentRow]:
        """The member's assignments whose window contains ``at`` (one per campaign)."""

    def credit_purchase(
        self, event_id: str, member_id: str, row: AssignmentRow, amount_cents: int, at: datetime
    ) -> bool:
        """Count the purchase (and the member's first conversion) once; False if already counted."""

    def credit_redemption(self, event_id: str, row: AssignmentRow, discount_cents: int) -> bool: ...


def attribute_purchase(
    event_id: str, purchase: PurchaseRecorded, repo: AttributionRepository, pseudonym_key: bytes | None = None
) -> int:
    """How many campaigns the purchase was credited to (now). The first-conversion marker names
    the member by campaigns' pseudonym when the key is given (nothing to erase later)."""
    if purchase.member_id is None:
        return 0
    ref = pseudonym(pseudonym_key, purchase.member_id) if pseudonym_key is not None else purchase.member_id
    credited = 0
    for row in repo.assignments(purchase.member_id, purchase.occurred_at):
        if row.assigned_at <= purchase.occurred_at <= row.attribution_until and repo.credit_purchase(
            event_id, ref, row, purchase.amount_cents, purchase.occurred_at
        ):
            credited += 1
    return credited


def attribute_redemption(event_id: str, redeemed: CouponRedeemed, repo: AttributionRepository) -> bool:
    if redeemed.campaign_id is None:
        return False
    rows = repo.assignments(redeemed.member_id, redeemed.redeemed_at, redeemed.campaign_id)
    if not rows:
        return False
    return repo.credit_redemption(event_id, rows[0], redeemed.discount_cents)
