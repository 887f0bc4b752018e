"""The per-member last-purchase projection the journeys decide on ("has the member come back?").

Naturally idempotent: the stored time only ever moves forward, so a redelivered or late event
changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.events.contracts import PurchaseRecorded


class LastPurchaseRepository(Protocol):
    def advance(self, member_id: str, occurred_at: datetime, purchase_id: str) -> bool:
        """Store ``occurred_at`` if it is later than the stored one; False when it was not."""

    def last_purchase_at(self, member_id: str) -> datetime | None: ...


def record_last_purchase(purchase: PurchaseRecorded, repo: LastPurchaseRepository) -> bool:
    """True when the projection moved forward (purchases without a member are not projected)."""
    if purchase.member_id is None:
        return False
    return repo.advance(purchase.member_id, purchase.occurred_at, purchase.purchase_id)
