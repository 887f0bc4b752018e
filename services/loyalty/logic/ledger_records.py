"""The ledger's records — a member's balance, lots, movements and their sources — as plain data
(pure, stdlib only). The ledger's rules are in logic/ledger.py, which re-uses these; they live
apart so that reading a ledger item (dal/ledger_items.py: the data export, the erasure) does not
load the rules and the event models they publish (issue 2: cold imports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

MovementKind = Literal[
    "earn", "pending", "release", "redeem", "expire", "refund_clawback", "adjustment", "reversal"
]
LotStatus = Literal["pending", "available", "expired"]
SourceKind = Literal[
    "purchase", "refund", "rule", "campaign", "staff", "reward", "coupon", "receipt", "parking", "system"
]
DEBT_LOT_ID = "DEBT"


@dataclass(frozen=True)
class Source:
    """Where a movement comes from: ``kind`` and the id of that thing (purchase id, rule id,
    campaign id, staff user, reward id, …)."""

    kind: SourceKind
    id: str | None = None


@dataclass(frozen=True)
class Lot:
    lot_id: str
    points: int
    """Credited when the lot was created (0 for the debt lot)."""
    remaining: int
    """What is left; negative only for the debt lot."""
    status: LotStatus
    earned_at: datetime
    available_at: datetime | None
    """Pending until then (the return window); None when available at once."""
    expires_at: datetime | None
    """None only for the debt lot."""
    source: Source
    purchase_id: str | None = None
    expiring_noticed: bool = False
    """PointsExpiring was published for this lot (once per lot)."""

    @property
    def is_debt(self) -> bool:
        return self.lot_id == DEBT_LOT_ID


@dataclass(frozen=True)
class Balance:
    """A member's ledger head (one item). ``ledger_id`` is loyalty's pseudonym of the member id:
    the ledger is always kept under it, and ``member_id`` (the link) is dropped on erasure."""

    ledger_id: str
    member_id: str | None
    available: int = 0
    pending: int = 0
    debt: int = 0
    """Points owed (≥ 0): minus the debt lot's ``remaining``."""
    version: int = 0
    """0: the item does not exist yet."""
    lifetime_earned: int = 0
    earned_by_month: Mapping[str, int] = field(default_factory=dict)
    """Points earned per mall-local month ``YYYY-MM`` (tier qualification, kept ~2 years)."""
    spend_by_month: Mapping[str, int] = field(default_factory=dict)
    """Qualifying spend in cents per mall-local month (tier qualification on spend)."""
    day: str | None = None
    """Mall-local date of ``earned_on_day`` (per-day earning cap)."""
    earned_on_day: int = 0
    tier: str | None = None
    tier_floor: str | None = None
    """Set by staff: the member never goes below this tier (shown as such)."""
    tier_since: datetime | None = None
    erased_at: datetime | None = None


@dataclass(frozen=True)
class LotChange:
    lot_id: str
    delta: int


@dataclass(frozen=True)
class Movement:
    """One immutable ledger entry. ``points`` is signed (credit > 0, debit < 0) and equals the sum
    of ``lots`` deltas; ``release`` moves points from pending to available (``points`` > 0 is
    what became available, the pending total drops by as much)."""

    movement_id: str
    ledger_id: str
    kind: MovementKind
    points: int
    reason: str
    source: Source
    actor: str
    """Who caused it: ``system``, ``integration:<source>``, ``staff:<user>``, ``member``."""
    at: datetime
    balance_after: int
    """Available balance after the movement (may be negative)."""
    pending_after: int
    lots: tuple[LotChange, ...]
    purchase_id: str | None = None
    reverses: str | None = None
    """For a reversal: the movement it reverses."""
    tier_after: str | None = None
    """Set when this movement moved the member to another tier (in the same transaction)."""
