"""Erasure in loyalty: the ledger is kept for accounting, under a pseudonym.

PIPL Art. 47 lets a processor keep what another law requires (accounting records); the purchases
(and, later, the points ledger) therefore stay, but their member id is replaced by a pseudonym:
``anon_`` + HMAC-SHA256(loyalty's key, member id), truncated to 128 bits. Keyed, so whoever knows
a member id (a POS, an old log) cannot compute it; stable, so the erased member's entries still add
up per pseudonym (refunds, audits); loyalty's own key (``LoyaltyPseudonymKeySecret``), so it does
not link to campaigns' pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

PSEUDONYM_PREFIX = "anon_"


def pseudonym(key: bytes, member_id: str) -> str:
    return PSEUDONYM_PREFIX + hmac.new(key, member_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class PseudonymisedLedger:
    purchases: int


class LedgerPseudonymiser(Protocol):
    def mark_erased(self, alias: str, erased_at: datetime) -> None:
        """Keep the erasure tombstone under the pseudonym (idempotent)."""

    def pseudonymise(self, member_id: str, alias: str) -> int:
        """Replace ``member_id`` by ``alias`` on every purchase of the member; how many changed."""

    def erase_ledger(self, alias: str, erased_at: datetime) -> None:
        """The points ledger is already kept under ``alias``: drop its one link to the member
        (the balance item's ``member_id``) and mark it erased (idempotent)."""


def erase_member(
    member_id: str, ledger: LedgerPseudonymiser, key: bytes, *, erased_at: datetime
) -> PseudonymisedLedger:
    """Idempotent: a second run finds nothing under the member id any more.

    The tombstone is written **first**: from then on ingestion records a purchase with the old
    member id as erased (its insert checks the tombstone is absent in its own transaction), so no
    purchase can be stored under the member id after the ledger was pseudonymised."""
    alias = pseudonym(key, member_id)
    ledger.mark_erased(alias, erased_at)
    ledger.erase_ledger(alias, erased_at)
    return PseudonymisedLedger(purchases=ledger.pseudonymise(member_id, alias))
