"""The points ledger, pure: lots, balances and immutable movements (no I/O, no clock).

Points live in **lots** (one per credit: a purchase, an award, a positive adjustment), each with
an expiry. A lot is ``pending`` (not spendable until ``available_at``: the return window),
``available`` or ``expired``. A member's :class:`Balance` carries the totals and a ``version``;
every change is computed here as a :class:`LedgerChange` — the balance after, the lots written and
one immutable :class:`Movement` — and the repository writes it in **one** transaction conditioned
on the balance's version (optimistic concurrency: a concurrent change makes the write fail and the
caller recomputes from a fresh read, see :func:`post_with_retry`).

Invariants (checked by :func:`check_invariants`, exercised by the property tests):

* ``balance.available == sum(remaining of available lots) + debt lot`` and
  ``balance.pending == sum(remaining of pending lots)`` — balance is the sum of lots, always;
* a movement's lot deltas add up to its change of ``available + pending`` (its ``points``, except
  for a release, which only moves points from pending to available) — no point is created or
  lost outside a movement.

A debit that exceeds what the member has (a refund after the points were spent, a staff
correction) is never hidden: the shortfall goes to the member's **debt lot** (``lot_id =
"DEBT"``, negative ``remaining``, no expiry), so the available balance turns negative; the next
points that become available — a new lot, a released one, what a reversal gives back — pay the
debt first (:func:`_credit_available`), so debt and spendable points never stand side by side
(``check_invariants(..., at=...)``).

Spending takes the oldest lot first: the lot that expires first (then the one earned first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from services.loyalty.logic.ledger_records import (
    DEBT_LOT_ID,
    Balance,
    Lot,
    LotChange,
    LotStatus,
    Movement,
    MovementKind,
    Source,
    SourceKind,
)
from shared.errors import Conflict, Unprocessable
from shared.events.contracts import EventData

MAX_LOTS_PER_CHANGE = 80
"""A transaction holds at most 100 items; a change touches at most this many lots (the rest of
the transaction is the balance, the movement, the caller's own items and the outbox)."""


class InsufficientPoints(Conflict):
    """The member's available points do not cover the debit (nothing was written)."""

    CODE = "insufficient_points"
    MESSAGE = "The member does not have enough available points."


class AlreadyReversed(Conflict):
    """The movement was reversed before (a movement is reversed at most once; nothing was written)."""

    CODE = "movement_already_reversed"
    MESSAGE = "This movement was already reversed."


class LedgerBusy(Conflict):
    """The member's ledger kept changing under us (optimistic concurrency retries exhausted)."""

    CODE = "ledger_busy"
    MESSAGE = "The member's points changed concurrently; retry the request."


@dataclass(frozen=True)
class LotWrite:
    """A lot to write: its new state, and the state it must still have (None: a new lot)."""

    lot: Lot
    expected: Lot | None


@dataclass(frozen=True)
class LedgerChange:
    before: Balance
    after: Balance
    movement: Movement
    lots: tuple[LotWrite, ...]

    @property
    def version_after(self) -> int:
        """The balance's version once this change is written (the store bumps it by one): strictly
        increasing per member, so events carry it as ``balance_version`` for consumers to order
        balances by."""
        return self.before.version + 1

    def with_tier(self, tier: str) -> LedgerChange:
        """The same change, its movement noting the tier it moved the member to."""
        return replace(self, movement=replace(self.movement, tier_after=tier))

    def with_after(self, after: Balance) -> LedgerChange:
        """The same change with other bookkeeping on the balance (tier, statistics); the point
        totals must not change."""
        if (after.available, after.pending, after.debt) != (
            self.after.available,
            self.after.pending,
            self.after.debt,
        ):
            raise ValueError("with_after must not change the point totals")
        return replace(self, after=after)


def new_balance(ledger_id: str, member_id: str | None) -> Balance:
    return Balance(ledger_id=ledger_id, member_id=member_id)


def replace_version(balance: Balance, version: int) -> Balance:
    """The balance as stored after a write (the repository bumps the version)."""
    return replace(balance, version=version)


def _spend_order(lot: Lot) -> tuple[datetime, datetime, str]:
    # Oldest first = expires first; lots without expiry (none but the debt lot) never reach here.
    assert lot.expires_at is not None
    return (lot.expires_at, lot.earned_at, lot.lot_id)


def _debt_lot(balance: Balance, at: datetime, lots: Mapping[str, Lot]) -> Lot:
    existing = lots.get(DEBT_LOT_ID)
    if existing is not None:
        return existing
    return Lot(
        lot_id=DEBT_LOT_ID,
        points=0,
        remaining=-balance.debt,
        status="available",
        earned_at=at,
        available_at=None,
        expires_at=None,
        source=Source("system"),
    )


def _require_positive(points: int) -> None:
    if points <= 0:
        raise Unprocessable(fields=[{"field": "points", "message": "Must be a positive integer."}])


def _movement(
    before: Balance,
    after: Balance,
    *,
    movement_id: str,
    kind: MovementKind,
    points: int,
    deltas: Sequence[LotChange],
    reason: str,
    source: Source,
    actor: str,
    at: datetime,
    purchase_id: str | None = None,
    reverses: str | None = None,
) -> Movement:
    return Movement(
        movement_id=movement_id,
        ledger_id=before.ledger_id,
        kind=kind,
        points=points,
        reason=reason,
        source=source,
        actor=actor,
        at=at,
        balance_after=after.available,
        pending_after=after.pending,
        lots=tuple(deltas),
        purchase_id=purchase_id,
        reverses=reverses,
    )


@dataclass(frozen=True)
class _Credited:
    """Credits made available: the balance after, each credited lot less what it paid to the debt
    (same order as given), the points each paid, and the debt lot's write and delta (empty when
    there was no debt)."""

    after: Balance
    lots: tuple[Lot, ...]
    paid: tuple[int, ...]
    debt_writes: tuple[LotWrite, ...]
    debt_deltas: tuple[LotChange, ...]


def _credit_available(
    balance: Balance,
    lots: Sequence[Lot],
    at: datetime,
    debt_lot: Lot | None,
    *,
    lifetime_earned: int | None = None,
) -> _Credited:
    """Make what each of ``lots`` holds (its ``remaining``: what it credits) available, paying the
    member's debt first, from the first lot on.

    The one place where a credit meets debt (a new available lot, a released pending lot, the
    points a reversal gives back): the debt lot is ``debt_lot`` when given, or rebuilt from
    ``balance.debt``; whatever does not pay the debt stays in its lot. ``lifetime_earned``: the new
    figure when the credit is an earning (set in the same copy of the balance)."""
    # One lot (every earning on the purchase path): no generator to sum.
    points = lots[0].remaining if len(lots) == 1 else sum(lot.remaining for lot in lots)
    pay = min(points, balance.debt)
    after = replace(
        balance,
        available=balance.available + points,
        debt=balance.debt - pay,
        lifetime_earned=balance.lifetime_earned if lifetime_earned is None else lifetime_earned,
    )
    if not pay:
        return _Credited(after, tuple(lots), (0,) * len(lots), (), ())
    left = pay
    credited: list[Lot] = []
    paid: list[int] = []
    for lot in lots:
        take = min(lot.remaining, left)
        left -= take
        credited.append(replace(lot, remaining=lot.remaining - take) if take else lot)
        paid.append(take)
    debt = _debt_lot(balance, at, {DEBT_LOT_ID: debt_lot} if debt_lot else {})
    return _Credited(
        after=after,
        lots=tuple(credited),
        paid=tuple(paid),
        debt_writes=(LotWrite(replace(debt, remaining=debt.remaining + pay), debt),),
        debt_deltas=(LotChange(DEBT_LOT_ID, pay),),
    )


def earn(
    balance: Balance,
    *,
    points: int,
    lot_id: str,
    movement_id: str,
    at: datetime,
    expires_at: datetime,
    available_at: datetime | None = None,
    kind: Literal["earn", "adjustment", "reversal"] = "earn",
    reason: str,
    source: Source,
    actor: str,
    purchase_id: str | None = None,
    reverses: str | None = None,
    debt_lot: Lot | None = None,
) -> LedgerChange:
    """Credit ``points`` in a new lot. With ``available_at`` later than ``at`` the lot is pending
    (movement kind ``pending``); otherwise it is available at once and pays any debt first (the
    debt lot is then rewritten: pass it as ``debt_lot`` when the balance has debt, or it is
    rebuilt from ``balance.debt``)."""
    _require_positive(points)
    is_pending = available_at is not None and available_at > at
    lot = Lot(
        lot_id=lot_id,
        points=points,
        remaining=points,
        status="pending" if is_pending else "available",
        earned_at=at,
        available_at=available_at if is_pending else None,
        expires_at=expires_at,
        source=source,
        purchase_id=purchase_id,
    )
    lifetime_earned = balance.lifetime_earned + points if kind == "earn" else balance.lifetime_earned
    movement_kind: MovementKind = kind
    if is_pending:
        movement_kind = "pending"
        after = replace(balance, pending=balance.pending + points, lifetime_earned=lifetime_earned)
        writes: tuple[LotWrite, ...] = (LotWrite(lot, None),)
        deltas: list[LotChange] = [LotChange(lot_id, points)]
    else:
        credited = _credit_available(balance, (lot,), at, debt_lot, lifetime_earned=lifetime_earned)
        after = credited.after
        writes = (LotWrite(credited.lots[0], None), *credited.debt_writes)
        deltas = [LotChange(lot_id, credited.lots[0].remaining), *credited.debt_deltas]
    return LedgerChange(
        before=balance,
        after=after,
        movement=_movement(
            balance,
            after,
            movement_id=movement_id,
            kind=movement_kind,
            points=points,
            deltas=deltas,
            reason=reason,
            source=source,
            actor=actor,
            at=at,
            purchase_id=purchase_id,
            reverses=reverses,
        ),
        lots=writes,
    )


def release(
    balance: Balance, lot: Lot, *, movement_id: str, at: datetime, debt_lot: Lot | None = None
) -> LedgerChange | None:
    """A pending lot whose return window ended becomes available (paying any debt first); None
    when there is nothing to release (already released, clawed back to zero, not due)."""
    if lot.status != "pending" or lot.available_at is None or lot.available_at > at:
        return None
    moved = replace(balance, pending=balance.pending - lot.remaining)
    credited = _credit_available(moved, (replace(lot, status="available"),), at, debt_lot)
    return LedgerChange(
        before=balance,
        after=credited.after,
        movement=_movement(
            balance,
            credited.after,
            movement_id=movement_id,
            kind="release",
            points=lot.remaining,
            # The lot's delta is what left it for the debt; ``points`` moved pending → available.
            deltas=[LotChange(lot.lot_id, -credited.paid[0]), *credited.debt_deltas],
            reason="return_window_ended",
            source=Source("system"),
            actor="system",
            at=at,
            purchase_id=lot.purchase_id,
        ),
        lots=(LotWrite(credited.lots[0], lot), *credited.debt_writes),
    )


def release_points_moved(movement: Movement) -> int:
    """How many points a release made available (its ``points``)."""
    return movement.points if movement.kind == "release" else 0


def debit(
    balance: Balance,
    lots: Iterable[Lot],
    *,
    points: int,
    kind: Literal["redeem", "refund_clawback", "adjustment", "reversal"],
    movement_id: str,
    at: datetime,
    reason: str,
    source: Source,
    actor: str,
    first: Sequence[str] = (),
    allow_negative: bool = False,
    purchase_id: str | None = None,
    reverses: str | None = None,
) -> LedgerChange:
    """Take ``points``: first from the lots named in ``first`` (pending or available, in that
    order — a refund takes back its purchase's lots), then from available lots oldest first.
    A shortfall raises :class:`InsufficientPoints`, or with ``allow_negative`` goes to the debt
    lot (the balance turns negative, visibly).

    ``lots`` are the member's open lots (at least every available lot with points left, the
    lots in ``first`` and the debt lot if there is debt)."""
    _require_positive(points)
    by_id = {lot.lot_id: lot for lot in lots}
    usable = [lot for lot in by_id.values() if not lot.is_debt and lot.remaining > 0]
    usable = [lot for lot in usable if lot.expires_at is None or lot.expires_at > at]
    named = [by_id[i] for i in first if i in by_id and by_id[i].remaining > 0 and not by_id[i].is_debt]
    named_ids = {lot.lot_id for lot in named}
    rest = sorted(
        (lot for lot in usable if lot.status == "available" and lot.lot_id not in named_ids), key=_spend_order
    )
    covered = sum(lot.remaining for lot in named) + sum(lot.remaining for lot in rest)
    if covered < points and not allow_negative:
        raise InsufficientPoints()

    left = points
    writes: list[LotWrite] = []
    deltas: list[LotChange] = []
    available, pending = balance.available, balance.pending
    for lot in [*named, *rest]:
        if left == 0:
            break
        take = min(lot.remaining, left)
        left -= take
        writes.append(LotWrite(replace(lot, remaining=lot.remaining - take), lot))
        deltas.append(LotChange(lot.lot_id, -take))
        if lot.status == "pending":
            pending -= take
        else:
            available -= take
    debt = balance.debt
    if left:
        debt_lot = _debt_lot(balance, at, by_id)
        expected = by_id.get(DEBT_LOT_ID)
        writes.append(LotWrite(replace(debt_lot, remaining=debt_lot.remaining - left), expected))
        deltas.append(LotChange(DEBT_LOT_ID, -left))
        available -= left
        debt += left
    if len(writes) > MAX_LOTS_PER_CHANGE:
        raise Unprocessable(
            fields=[{"field": "points", "message": "Touches too many lots at once; split the request."}]
        )
    after = replace(balance, available=available, pending=pending, debt=debt)
    if kind == "refund_clawback":
        # Clawed-back points were never really earned: the lifetime figure follows.
        after = replace(after, lifetime_earned=max(0, after.lifetime_earned - points))
    return LedgerChange(
        before=balance,
        after=after,
        movement=_movement(
            balance,
            after,
            movement_id=movement_id,
            kind=kind,
            points=-points,
            deltas=deltas,
            reason=reason,
            source=source,
            actor=actor,
            at=at,
            purchase_id=purchase_id,
            reverses=reverses,
        ),
        lots=tuple(writes),
    )


def expire(balance: Balance, lot: Lot, *, movement_id: str, at: datetime) -> LedgerChange | None:
    """The lot's expiry passed: what is left of it leaves the balance (pending points too). None
    when there is nothing to expire (not due, already expired, nothing left)."""
    if lot.is_debt or lot.expires_at is None or lot.expires_at > at or lot.status == "expired":
        return None
    if lot.remaining <= 0:
        return None
    points = lot.remaining
    if lot.status == "pending":
        after = replace(balance, pending=balance.pending - points)
    else:
        after = replace(balance, available=balance.available - points)
    expired = replace(lot, remaining=0, status="expired")
    return LedgerChange(
        before=balance,
        after=after,
        movement=_movement(
            balance,
            after,
            movement_id=movement_id,
            kind="expire",
            points=-points,
            deltas=[LotChange(lot.lot_id, -points)],
            reason="expired",
            source=Source("system"),
            actor="system",
            at=at,
            purchase_id=lot.purchase_id,
        ),
        lots=(LotWrite(expired, lot),),
    )


def _reverse_credit(
    balance: Balance,
    by_id: Mapping[str, Lot],
    original: Movement,
    *,
    movement_id: str,
    at: datetime,
    reason: str,
    source: Source,
    actor: str,
) -> LedgerChange:
    """:func:`reverse` of a credit: a debit from the lots it created first, into debt if spent."""
    change = debit(
        balance,
        by_id.values(),
        points=original.points,
        kind="reversal",
        movement_id=movement_id,
        at=at,
        reason=reason,
        source=source,
        actor=actor,
        first=[c.lot_id for c in original.lots if c.delta > 0],
        allow_negative=True,
        purchase_id=original.purchase_id,
        reverses=original.movement_id,
    )
    if original.kind in ("earn", "pending"):
        # An earning taken back was never really earned (like a refund's clawback): the lifetime
        # figure follows. Other credits (adjustments, points given back) never counted in it.
        lifetime = max(0, change.after.lifetime_earned - original.points)
        change = replace(change, after=replace(change.after, lifetime_earned=lifetime))
    return change


def reverse(
    balance: Balance,
    lots: Iterable[Lot],
    original: Movement,
    *,
    movement_id: str,
    at: datetime,
    reason: str,
    source: Source,
    actor: str,
    fallback_expires_at: datetime,
) -> LedgerChange:
    """Undo ``original``. A debit (a redemption, a negative adjustment) is credited back to the
    lots it took from while they are still open; what belonged to lots that expired or were
    removed since, and what the debit booked as debt, comes back in a new lot ``R<movement_id>``
    expiring at ``fallback_expires_at``. Like every credit, the points made available pay the
    member's debt first (the new lot's first, then the restored lots oldest first), so undoing a
    debit that created debt pays that debt back rather than leaving points and debt side by
    side. A credit is taken back from the lots it created first (negative balance allowed: the
    points may have been spent); an earning taken back lowers ``lifetime_earned`` as a refund's
    clawback does.

    Which movements staff may reverse, and that a movement is reversed at most once, is decided
    outside (logic/reversals.py; the store's marker written with the reversal, see
    :class:`PostResult`).

    ``lots``: the member's open lots with the debt lot when there is debt (as for :func:`debit`)
    *and* the lots ``original`` names (``LedgerStore.get_lots``): a lot it emptied is no longer
    open, and one missing here is taken as gone (its points come back in the new lot)."""
    by_id = {lot.lot_id: lot for lot in lots}
    if original.points > 0:
        return _reverse_credit(
            balance,
            by_id,
            original,
            movement_id=movement_id,
            at=at,
            reason=reason,
            source=source,
            actor=actor,
        )
    if original.points == 0:
        raise Unprocessable(fields=[{"field": "movement_id", "message": "Nothing to reverse."}])
    writes: list[LotWrite] = []
    deltas: list[LotChange] = []
    pending = balance.pending
    restored: list[Lot] = []  # open available lots taken from, as stored
    back_to: dict[str, int] = {}
    leftover = 0
    for change in original.lots:
        if change.delta >= 0:
            continue
        lot = by_id.get(change.lot_id)
        back = -change.delta
        open_lot = lot is not None and lot.status != "expired" and (lot.expires_at or at) > at
        if lot is None or not open_lot or lot.is_debt:
            leftover += back
            continue
        if lot.status == "pending":
            # Pending points are not spendable yet: they pay the debt when released.
            writes.append(LotWrite(replace(lot, remaining=lot.remaining + back), lot))
            deltas.append(LotChange(lot.lot_id, back))
            pending += back
            continue
        if lot.lot_id not in back_to:
            restored.append(lot)
        back_to[lot.lot_id] = back_to.get(lot.lot_id, 0) + back
    # Each credit is a lot holding what it gives back. The new lot pays the debt first: it is the
    # part with no lot to return to (the debt lot's own share among it), so the original lots stay
    # as the debit found them whenever the debt allows; then the restored lots, oldest first, as
    # points are spent.
    new_lot = Lot(
        lot_id=f"R{movement_id}",
        points=leftover,
        remaining=leftover,
        status="available",
        earned_at=at,
        available_at=None,
        expires_at=fallback_expires_at,
        source=source,
    )
    restored.sort(key=_spend_order)
    credits = [replace(lot, remaining=back_to[lot.lot_id]) for lot in restored]
    if leftover:
        credits.insert(0, new_lot)
    credited = _credit_available(replace(balance, pending=pending), credits, at, by_id.get(DEBT_LOT_ID))
    for credit in credited.lots:
        if credit.remaining == 0:
            continue  # all of it paid the debt: the lot is as the debit left it (or never made)
        if credit.lot_id == new_lot.lot_id:
            writes.append(LotWrite(credit, None))
        else:
            stored = by_id[credit.lot_id]
            writes.append(LotWrite(replace(stored, remaining=stored.remaining + credit.remaining), stored))
        deltas.append(LotChange(credit.lot_id, credit.remaining))
    writes.extend(credited.debt_writes)
    deltas.extend(credited.debt_deltas)
    after = credited.after
    return LedgerChange(
        before=balance,
        after=after,
        movement=_movement(
            balance,
            after,
            movement_id=movement_id,
            kind="reversal",
            points=-original.points,
            deltas=deltas,
            reason=reason,
            source=source,
            actor=actor,
            at=at,
            purchase_id=original.purchase_id,
            reverses=original.movement_id,
        ),
        lots=tuple(writes),
    )


def check_invariants(balance: Balance, lots: Iterable[Lot], *, at: datetime | None = None) -> list[str]:
    """What is wrong between a balance and its lots (empty: consistent). With ``at`` (the lots
    must then be all the open lots): also debt left unpaid while a lot holds points spendable at
    that instant — every credit pays the debt first, so the two never stand side by side."""
    problems: list[str] = []
    all_lots = list(lots)
    if balance.debt < 0:
        problems.append(f"debt {balance.debt} is negative")
    if at is not None and balance.debt:
        spendable = [
            lot.lot_id
            for lot in all_lots
            if not lot.is_debt
            and lot.status == "available"
            and lot.remaining > 0
            and (lot.expires_at is None or lot.expires_at > at)
        ]
        if spendable:
            problems.append(f"debt {balance.debt} unpaid beside spendable points in {', '.join(spendable)}")
    available = sum(lot.remaining for lot in all_lots if lot.status == "available")
    pending = sum(lot.remaining for lot in all_lots if lot.status == "pending")
    debt_lot = next((lot for lot in all_lots if lot.is_debt), None)
    if balance.available != available:
        problems.append(f"available {balance.available} != sum of available lots {available}")
    if balance.pending != pending:
        problems.append(f"pending {balance.pending} != sum of pending lots {pending}")
    if balance.debt != (-debt_lot.remaining if debt_lot else 0):
        problems.append(f"debt {balance.debt} != debt lot")
    for lot in all_lots:
        if lot.remaining < 0 and not lot.is_debt:
            problems.append(f"lot {lot.lot_id} is negative")
        if lot.status == "expired" and lot.remaining:
            problems.append(f"expired lot {lot.lot_id} still holds {lot.remaining}")
    return problems


def apply_to_lots(lots: Mapping[str, Lot], change: LedgerChange) -> dict[str, Lot]:
    """The lots after ``change`` (what the repository does, for fakes and tests)."""
    result = dict(lots)
    for write in change.lots:
        result[write.lot.lot_id] = write.lot
    return result


# --- posting with optimistic concurrency ---------------------------------------------------------


@dataclass(frozen=True)
class EventsOut:
    """Events to publish with the change (outbox items in the same transaction)."""

    events: Sequence[EventData]
    correlation_id: str
    producer: str
    at: datetime


@dataclass(frozen=True)
class PostResult:
    """``posted``; ``conflict`` — the balance (or a lot) changed since it was read: re-read,
    recompute, retry; ``replayed`` — the idempotency key was used before (``previous`` holds
    what that posting stored); ``extra_failed`` — one of the caller's own items failed its
    condition (``extra_failed_indexes`` are positions in the caller's ``extra`` list);
    ``already_reversed`` — the change is a reversal of a movement reversed before (the store
    keeps one marker per reversed movement, written in the reversal's transaction)."""

    status: str
    extra_failed_indexes: tuple[int, ...] = ()
    previous: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "posted"


@dataclass(frozen=True)
class Posted:
    movement: Movement
    balance: Balance
    replayed: bool = False


class LedgerReader(Protocol):
    def get_balance(self, ledger_id: str) -> Balance | None: ...

    def open_lots(self, ledger_id: str) -> list[Lot]:
        """Lots with points left (pending or available), and the debt lot if any."""


class LedgerStore(LedgerReader, Protocol):
    def get_lots(self, ledger_id: str, lot_ids: Sequence[str]) -> dict[str, Lot]: ...

    def post(
        self,
        change: LedgerChange,
        *,
        extra: Sequence[Mapping[str, Any]] = (),
        idempotency_key: str | None = None,
        events: EventsOut | None = None,
    ) -> PostResult: ...


class ExtraItemsFailed(Exception):
    """One of the caller's own transaction items failed its condition (nothing was written)."""

    def __init__(self, indexes: tuple[int, ...]) -> None:
        self.indexes = indexes
        super().__init__(f"caller's transaction items failed: {indexes}")


@dataclass(frozen=True)
class Outcome:
    """What :func:`post_movement` did: ``change`` is None when ``compute`` had nothing to do or
    when the idempotency key was used before (``replayed``; ``previous`` = the stored result:
    ``movement_id``, ``balance_after``, ``points``)."""

    change: LedgerChange | None
    replayed: bool = False
    previous: Mapping[str, Any] | None = None


def post_movement(
    store: LedgerStore,
    ledger_id: str,
    member_id: str | None,
    compute: Callable[[Balance], LedgerChange | None],
    *,
    extra: Callable[[LedgerChange], Sequence[Mapping[str, Any]]] | None = None,
    events: Callable[[LedgerChange], EventsOut | None] | None = None,
    idempotency_key: str | None = None,
    attempts: int = 6,
) -> Outcome:
    """Read the balance (a new member starts at zero), ``compute`` the change, write it with the
    caller's ``extra`` items and ``events`` in one transaction conditioned on the version read;
    on a conflict start again from a fresh read (optimistic concurrency).

    ``compute`` may read lots through ``store`` (``open_lots``/``get_lots``) and raise domain
    errors (:class:`InsufficientPoints`); returning None means nothing to do. Raises
    :class:`ExtraItemsFailed` when one of the caller's items failed its condition,
    :class:`AlreadyReversed` when the change reverses a movement reversed before and
    :class:`LedgerBusy` after ``attempts`` conflicts."""
    for _ in range(attempts):
        balance = store.get_balance(ledger_id) or new_balance(ledger_id, member_id)
        change = compute(balance)
        if change is None:
            return Outcome(None)
        result = store.post(
            change,
            extra=extra(change) if extra else (),
            idempotency_key=idempotency_key,
            events=events(change) if events else None,
        )
        if result.status == "posted":
            return Outcome(change)
        if result.status == "replayed":
            return Outcome(None, replayed=True, previous=result.previous)
        if result.status == "extra_failed":
            raise ExtraItemsFailed(result.extra_failed_indexes)
        if result.status == "already_reversed":
            raise AlreadyReversed()
    raise LedgerBusy()


# The records (logic/ledger_records.py) stay part of the ledger's API (``ledger.Balance`` …).
__all__ = [
    "DEBT_LOT_ID",
    "MAX_LOTS_PER_CHANGE",
    "AlreadyReversed",
    "Balance",
    "EventsOut",
    "ExtraItemsFailed",
    "InsufficientPoints",
    "LedgerBusy",
    "LedgerChange",
    "LedgerReader",
    "LedgerStore",
    "Lot",
    "LotChange",
    "LotStatus",
    "LotWrite",
    "Movement",
    "MovementKind",
    "Outcome",
    "PostResult",
    "Posted",
    "Source",
    "SourceKind",
    "apply_to_lots",
    "check_invariants",
    "debit",
    "earn",
    "expire",
    "new_balance",
    "post_movement",
    "release",
    "release_points_moved",
    "replace_version",
    "reverse",
]
