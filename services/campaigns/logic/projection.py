"""The per-member last-purchase projection the journeys decide on ("has the member come back?").

Naturally idempotent: the stored time only ever moves forward, so a redelivered or late event
changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from services.campaigns.logic.privacy import pseudonym

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.events.contracts import PurchaseRecorded


class LastPurchaseRepository(Protocol):
    def advance(
        self, member_id: str, occurred_at: datetime, purchase_id: str, erased_marker: str | None = None
    ) -> bool:
        """Store ``occurred_at`` if it is later than the stored one; False when it was not, or when
        ``erased_marker`` (the member's erasure tombstone, see logic/privacy.py) exists."""

    def last_purchase_at(self, member_id: str) -> datetime | None: ...


def record_last_purchase(
    purchase: PurchaseRecorded, repo: LastPurchaseRepository, pseudonym_key: bytes | None = None
) -> bool:
    """True when the projection moved forward (purchases without a member are not projected).

    With ``pseudonym_key``, a purchase of an erased member (an event delivered after the erasure)
    is not projected: nothing of the member comes back into campaigns."""
    if purchase.member_id is None:
        return False
    marker = pseudonym(pseudonym_key, purchase.member_id) if pseudonym_key is not None else None
    return repo.advance(purchase.member_id, purchase.occurred_at, purchase.purchase_id, marker)
