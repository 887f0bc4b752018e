"""Ledger items ↔ the ledger's records (balance, lot, movement) and their index keys, defined
once here; the layout is described in dal/ledger.py, the repository that re-uses them.

Apart from the repository so that the data export reads a member's ledger without loading the
ledger's rules, the repository's write path and the event models (issue 2: cold imports): this
module imports only the records (logic/ledger_records.py), dal/keys.py and ``shared.clock``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from services.loyalty.dal.keys import BALANCE_SK, ledger_pk
from services.loyalty.logic.ledger_records import Balance, Lot, LotChange, Movement, Source
from shared import clock

INDEX_SHARDS = 16


@lru_cache(maxsize=1024)
def shard_of(ledger_id: str) -> int:
    # Cached: one change asks for its ledger's shard several times (balance, each lot).
    return hashlib.sha256(ledger_id.encode("utf-8")).digest()[0] % INDEX_SHARDS


def release_partition(day: str, shard: int) -> str:
    return f"LOTREL#{day}#{shard}"


def expiry_partition(day: str, shard: int) -> str:
    return f"LOTEXP#{day}#{shard}"


def _iso(value: datetime | None) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def _dt(value: Any) -> datetime | None:
    return clock.parse_iso(value) if value else None


# --- items ---------------------------------------------------------------------------------------


def balance_item(balance: Balance, *, version: int | None = None) -> dict[str, Any]:
    """The balance's item; ``version``: stored instead of the balance's own (a write bumps it)."""
    return {
        "pk": ledger_pk(balance.ledger_id),
        "sk": BALANCE_SK,
        "entity": "points_balance",
        "ledger_id": balance.ledger_id,
        "member_id": balance.member_id,
        "available": balance.available,
        "pending": balance.pending,
        "debt": balance.debt,
        "version": balance.version if version is None else version,
        "lifetime_earned": balance.lifetime_earned,
        "earned_by_month": dict(balance.earned_by_month),
        "spend_by_month": dict(balance.spend_by_month),
        "day": balance.day,
        "earned_on_day": balance.earned_on_day,
        "tier": balance.tier,
        "tier_floor": balance.tier_floor,
        "tier_since": _iso(balance.tier_since),
        "erased_at": _iso(balance.erased_at),
        **tier_index_keys(balance),
    }


def tier_index_keys(balance: Balance) -> dict[str, str]:
    """Members above the base tier are found by the periodic review through gsi2 (sparse)."""
    if not balance.tier or balance.erased_at is not None:
        return {}
    return {"gsi2pk": f"TIER#{balance.tier}#{shard_of(balance.ledger_id)}", "gsi2sk": balance.ledger_id}


def balance_from_item(item: Mapping[str, Any]) -> Balance:
    return Balance(
        ledger_id=item["ledger_id"],
        member_id=item.get("member_id"),
        available=item.get("available", 0),
        pending=item.get("pending", 0),
        debt=item.get("debt", 0),
        version=item.get("version", 0),
        lifetime_earned=item.get("lifetime_earned", 0),
        earned_by_month=dict(item.get("earned_by_month") or {}),
        spend_by_month=dict(item.get("spend_by_month") or {}),
        day=item.get("day"),
        earned_on_day=item.get("earned_on_day", 0),
        tier=item.get("tier"),
        tier_floor=item.get("tier_floor"),
        tier_since=_dt(item.get("tier_since")),
        erased_at=_dt(item.get("erased_at")),
    )


def lot_due(lot: Lot) -> tuple[Literal["LOTREL", "LOTEXP"], datetime] | None:
    """What is due next for the lot and when: its release (pending) or its expiry (points left)."""
    if lot.status == "pending" and lot.available_at is not None:
        return "LOTREL", lot.available_at
    if lot.status == "available" and lot.remaining > 0 and lot.expires_at is not None:
        return "LOTEXP", lot.expires_at
    return None


def lot_index_keys(ledger_id: str, lot: Lot) -> dict[str, str]:
    """The lot's ``gsi2`` keys while something is due for it (:func:`lot_due`)."""
    due = lot_due(lot)
    if due is None:
        return {}
    kind, at = due
    partition = release_partition if kind == "LOTREL" else expiry_partition
    return {
        "gsi2pk": partition(at.astimezone(UTC).date().isoformat(), shard_of(ledger_id)),
        "gsi2sk": f"{clock.to_utc_iso(at)}#{lot.lot_id}",
    }


def lot_item(ledger_id: str, lot: Lot) -> dict[str, Any]:
    return {
        "pk": ledger_pk(ledger_id),
        "sk": f"LOT#{lot.lot_id}",
        "entity": "points_lot",
        "lot_id": lot.lot_id,
        "points": lot.points,
        "remaining": lot.remaining,
        "status": lot.status,
        "earned_at": clock.to_utc_iso(lot.earned_at),
        "available_at": _iso(lot.available_at),
        "expires_at": _iso(lot.expires_at),
        "source_kind": lot.source.kind,
        "source_id": lot.source.id,
        "purchase_id": lot.purchase_id,
        "expiring_noticed": lot.expiring_noticed or None,
        **lot_index_keys(ledger_id, lot),
    }


def lot_from_item(item: Mapping[str, Any]) -> Lot:
    return Lot(
        lot_id=item["lot_id"],
        points=item["points"],
        remaining=item["remaining"],
        status=item["status"],
        earned_at=clock.parse_iso(item["earned_at"]),
        available_at=_dt(item.get("available_at")),
        expires_at=_dt(item.get("expires_at")),
        source=Source(item["source_kind"], item.get("source_id")),
        purchase_id=item.get("purchase_id"),
        expiring_noticed=bool(item.get("expiring_noticed")),
    )


def movement_item(movement: Movement) -> dict[str, Any]:
    return {
        "pk": ledger_pk(movement.ledger_id),
        "sk": f"MOV#{movement.movement_id}",
        "entity": "points_movement",
        "movement_id": movement.movement_id,
        "kind": movement.kind,
        "points": movement.points,
        "reason": movement.reason,
        "source_kind": movement.source.kind,
        "source_id": movement.source.id,
        "actor": movement.actor,
        "at": clock.to_utc_iso(movement.at),
        "balance_after": movement.balance_after,
        "pending_after": movement.pending_after,
        "lots": [{"lot_id": c.lot_id, "delta": c.delta} for c in movement.lots],
        "purchase_id": movement.purchase_id,
        "reverses": movement.reverses,
        "tier_after": movement.tier_after,
    }


def movement_from_item(item: Mapping[str, Any]) -> Movement:
    return Movement(
        movement_id=item["movement_id"],
        ledger_id=item["pk"].removeprefix("LEDGER#"),
        kind=item["kind"],
        points=item["points"],
        reason=item["reason"],
        source=Source(item["source_kind"], item.get("source_id")),
        actor=item["actor"],
        at=clock.parse_iso(item["at"]),
        balance_after=item["balance_after"],
        pending_after=item["pending_after"],
        lots=tuple(LotChange(c["lot_id"], c["delta"]) for c in item.get("lots", [])),
        purchase_id=item.get("purchase_id"),
        reverses=item.get("reverses"),
        tier_after=item.get("tier_after"),
    )
