"""The ledger's clock-driven jobs (pure orchestration over injected stores).

* **release** (daily, and on demand): pending lots whose return window ended become available →
  ``PointsReleased`` (one per lot, with the balance after).
* **expire** (daily, just after mall-local midnight, after the release): lots whose expiry passed
  lose what is left → ``PointsExpired`` (one per lot).
* **notice** (same run): lots expiring within N days → ``PointsExpiring`` with ``lot_id``, once per
  lot (the lot is marked in the same transaction as its outbox item).
* **review** (monthly): members above the base tier are reviewed (downgrade with retention).

Every job finds its work through the sharded ``gsi2`` (never a scan) — only on the UTC days the
due calendar names, so an idle day costs one GetItem — re-reads the balance and lot consistently
(the index is eventually consistent and KEYS_ONLY), and writes each change in one transaction
conditioned on the balance version: a rerun, an overlap with a purchase or a second job instance
cannot apply a change twice. A day stays on the calendar until a run has processed it after it
ended, so a missed run catches up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal, Protocol

from services.loyalty.logic import tiers as tier_logic
from services.loyalty.logic.ledger import (
    DEBT_LOT_ID,
    Balance,
    EventsOut,
    LedgerChange,
    Lot,
    PostResult,
    expire,
    release,
)
from services.loyalty.models.earning import Tier, TierProgram
from shared.events.contracts import EventData, PointsExpired, PointsExpiring, PointsReleased


class DueIndex(Protocol):
    def due(
        self, kind: Literal["LOTREL", "LOTEXP"], day: str, *, after: datetime | None, until: datetime
    ) -> Iterator[tuple[str, str]]:
        """(ledger_id, lot_id) of lots due on UTC ``day`` within (after, until]."""

    def in_tier(self, tier_id: str) -> Iterator[str]:
        """Ledger ids of members assigned ``tier_id``."""

    def calendar(self) -> tuple[set[str], set[str]]:
        """UTC days with lots to release, and with lots to expire (the due calendar)."""

    def forget(self, kind: Literal["LOTREL", "LOTEXP"], day: str) -> None:
        """The day is over and was processed: drop it from the calendar."""


class JobStore(Protocol):
    def get_balance(self, ledger_id: str) -> Balance | None: ...

    def get_lots(self, ledger_id: str, lot_ids: Sequence[str]) -> dict[str, Lot]: ...

    def post(self, change: LedgerChange, *, events: EventsOut | None = None) -> PostResult: ...

    def post_balance(self, before: Balance, after: Balance, events: EventsOut) -> bool:
        """Write a balance whose points did not move (a tier change), conditioned on its version."""

    def mark_noticed(self, ledger_id: str, lot: Lot, events: EventsOut) -> bool:
        """Set ``expiring_noticed`` on the lot (condition: not yet) with the outbox item."""


@dataclass
class JobRun:
    released: int = 0
    expired: int = 0
    noticed: int = 0
    reviewed: int = 0
    downgraded: int = 0
    busy: list[str] = field(default_factory=list)


def _due(
    index: DueIndex,
    kind: Literal["LOTREL", "LOTEXP"],
    days: set[str],
    after: datetime | None,
    until: datetime,
) -> Iterator[tuple[str, str]]:
    """Due lots on the calendar's days up to ``until`` (only days the calendar names)."""
    last = until.astimezone(UTC).date().isoformat()
    first = after.astimezone(UTC).date().isoformat() if after is not None else ""
    for day in sorted(d for d in days if first <= d <= last):
        yield from index.due(kind, day, after=after, until=until)


def _forget_past(
    index: DueIndex, kind: Literal["LOTREL", "LOTEXP"], days: set[str], now: datetime, busy: bool
) -> None:
    """Days before today (UTC) were processed entirely by this run (unless members were busy)."""
    if busy:
        return
    today = now.astimezone(UTC).date().isoformat()
    for day in sorted(d for d in days if d < today):
        index.forget(kind, day)


def _apply(
    store: JobStore,
    ledger_id: str,
    lot_id: str,
    compute: Callable[[Balance, Lot, Lot | None], tuple[LedgerChange, list[EventData]] | None],
    *,
    events_out: Callable[[list[EventData]], EventsOut],
    attempts: int = 5,
) -> bool | None:
    """Re-read, compute, post; True posted, None nothing to do, False gave up (busy)."""
    for _ in range(attempts):
        balance = store.get_balance(ledger_id)
        if balance is None:
            return None
        lots = store.get_lots(ledger_id, [lot_id, DEBT_LOT_ID])
        lot = lots.get(lot_id)
        if lot is None:
            return None
        planned = compute(balance, lot, lots.get(DEBT_LOT_ID))
        if planned is None:
            return None
        change, events = planned
        result = store.post(change, events=events_out(events))
        if result.ok:
            return True
    return False


def run_release(
    store: JobStore,
    index: DueIndex,
    *,
    now: datetime,
    new_id: Callable[[], str],
    events_out: Callable[[list[EventData]], EventsOut],
) -> JobRun:
    run = JobRun()

    def compute(balance: Balance, lot: Lot, debt: Lot | None) -> tuple[LedgerChange, list[EventData]] | None:
        change = release(balance, lot, movement_id=new_id(), at=now, debt_lot=debt)
        if change is None:
            return None
        events: list[EventData] = []
        if balance.member_id and balance.erased_at is None and change.movement.points > 0:
            # The available balance grew: consumers projecting it (campaigns) need to know.
            events.append(
                PointsReleased(
                    member_id=balance.member_id,
                    movement_id=change.movement.movement_id,
                    points=change.movement.points,
                    lot_id=lot.lot_id,
                    purchase_id=lot.purchase_id,
                    balance_after=change.movement.balance_after,
                    balance_version=change.version_after,
                    released_at=now,
                )
            )
        return change, events

    release_days, _ = index.calendar()
    for ledger_id, lot_id in _due(index, "LOTREL", release_days, None, now):
        done = _apply(store, ledger_id, lot_id, compute, events_out=events_out)
        if done:
            run.released += 1
        elif done is False:
            run.busy.append(f"{ledger_id}/{lot_id}")
    _forget_past(index, "LOTREL", release_days, now, bool(run.busy))
    return run


def run_expiry(
    store: JobStore,
    index: DueIndex,
    *,
    now: datetime,
    notice_days: int,
    tz: tzinfo,
    new_id: Callable[[], str],
    events_out: Callable[[list[EventData]], EventsOut],
) -> JobRun:
    run = JobRun()

    def compute(balance: Balance, lot: Lot, debt: Lot | None) -> tuple[LedgerChange, list[EventData]] | None:
        change = expire(balance, lot, movement_id=new_id(), at=now)
        if change is None:
            return None
        events: list[EventData] = []
        if balance.member_id and balance.erased_at is None:
            events.append(
                PointsExpired(
                    member_id=balance.member_id,
                    movement_id=change.movement.movement_id,
                    points=-change.movement.points,
                    balance_after=change.movement.balance_after,
                    expired_at=now,
                    balance_version=change.version_after,
                )
            )
        return change, events

    _, expiry_days = index.calendar()
    for ledger_id, lot_id in _due(index, "LOTEXP", expiry_days, None, now):
        done = _apply(store, ledger_id, lot_id, compute, events_out=events_out)
        if done:
            run.expired += 1
        elif done is False:
            run.busy.append(f"{ledger_id}/{lot_id}")
    _forget_past(index, "LOTEXP", expiry_days, now, bool(run.busy))

    horizon = now + timedelta(days=notice_days)
    today = now.astimezone(tz).date()
    for ledger_id, lot_id in _due(index, "LOTEXP", expiry_days, now, horizon):
        balance = store.get_balance(ledger_id)
        lot = store.get_lots(ledger_id, [lot_id]).get(lot_id)
        if (
            balance is None
            or lot is None
            or lot.expiring_noticed
            or lot.remaining <= 0
            or lot.expires_at is None
        ):
            continue
        if not balance.member_id or balance.erased_at is not None:
            continue
        if lot.status != "available":
            continue
        event = PointsExpiring(
            member_id=balance.member_id,
            points=lot.remaining,
            expires_at=lot.expires_at,
            days_left=max(0, (lot.expires_at.astimezone(tz).date() - today).days),
            noticed_at=now,
            lot_id=lot.lot_id,
        )
        if store.mark_noticed(ledger_id, lot, events_out([event])):
            run.noticed += 1
    return run


def run_review(
    store: JobStore,
    index: DueIndex,
    tiers: Sequence[Tier],
    program: TierProgram,
    *,
    now: datetime,
    tz: tzinfo,
    events_out: Callable[[list[EventData]], EventsOut],
) -> JobRun:
    run = JobRun()
    above_base = [t for t in tiers if t.rank > 0]
    for tier in above_base:
        for ledger_id in _unique(index.in_tier(tier.tier_id)):
            for _ in range(5):
                balance = store.get_balance(ledger_id)
                if balance is None or balance.tier != tier.tier_id:
                    break
                after, move = tier_logic.review(balance, tiers, program, now, tz)
                run.reviewed += 1
                if move is None:
                    break
                events: list[EventData] = []
                if balance.member_id and balance.erased_at is None:
                    events.append(tier_logic.tier_changed_event(balance.member_id, move, now))
                if store.post_balance(balance, after, events_out(events)):
                    if move.direction == "down":
                        run.downgraded += 1
                    break
    return run


def _unique(ids: Iterable[str]) -> Iterator[str]:
    seen: set[str] = set()
    for value in ids:
        if value not in seen:
            seen.add(value)
            yield value
