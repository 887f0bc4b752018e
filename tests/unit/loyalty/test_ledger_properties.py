"""Property tests (hypothesis): random sequences of purchases (pending or not), refunds,
redemptions, staff corrections (debits allowed into debt), releases, expiries, reversals of any
of those debits and of awards, and concurrent writers against the pure ledger and a store that
enforces the balance version like the DynamoDB condition.

After every step: balance = sum of lots (available, pending, debt), no lot negative except the
debt lot, debt never left unpaid beside spendable points (every credit pays it first), and no
point created or lost — the movements' lot deltas add up to what the lots hold, and the totals
equal what was credited minus what was debited, expired and clawed back. A correction undone at
once leaves the member exactly as before it (no points beside debt, no new lot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.loyalty.logic import ledger as L
from services.loyalty.logic.ledger import DEBT_LOT_ID, Balance, InsufficientPoints, Lot, Source

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class VersionedStore:
    """The repository's contract in memory: a write applies only on the version it was planned on."""

    def __init__(self) -> None:
        self.balance: Balance | None = None
        self.lots: dict[str, Lot] = {}
        self.movements: list[L.Movement] = []
        self.conflicts = 0

    def get_balance(self, ledger_id: str) -> Balance | None:
        return self.balance

    def open_lots(self, ledger_id: str) -> list[Lot]:
        return [lot for lot in self.lots.values() if lot.remaining != 0 or lot.is_debt]

    def get_lots(self, ledger_id: str, lot_ids: Sequence[str]) -> dict[str, Lot]:
        return {i: self.lots[i] for i in lot_ids if i in self.lots}

    def post(
        self,
        change: L.LedgerChange,
        *,
        extra: Sequence[Mapping[str, Any]] = (),
        idempotency_key: str | None = None,
        events: L.EventsOut | None = None,
    ) -> L.PostResult:
        current = self.balance.version if self.balance else 0
        if change.before.version != current:
            self.conflicts += 1
            return L.PostResult("conflict")
        for write in change.lots:
            stored = self.lots.get(write.lot.lot_id)
            if write.expected is None and stored is not None and not write.lot.is_debt:
                return L.PostResult("conflict")
        self.balance = L.replace_version(change.after, current + 1)
        self.lots = L.apply_to_lots(self.lots, change)
        self.movements.append(change.movement)
        return L.PostResult("posted")


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = VersionedStore()
        self.now = T0
        self.n = 0
        self.purchases: list[tuple[str, int]] = []  # (lot id, points earned)
        self.reversible: list[L.Movement] = []  # debits (and awards) not reversed yet
        self.credited = 0
        self.debited = 0

    def next_id(self, prefix: str = "m") -> str:
        self.n += 1
        return f"{prefix}{self.n:06d}"

    def post(self, compute: Any) -> L.LedgerChange | None:
        outcome = L.post_movement(self.store, "anon_x", "member", compute)
        return outcome.change

    @rule(points=st.integers(1, 500), pending=st.booleans(), life_days=st.integers(1, 60))
    def purchase(self, points: int, pending: bool, life_days: int) -> None:
        lot_id = self.next_id("lot")

        def compute(b: Balance) -> L.LedgerChange:
            return L.earn(
                b,
                points=points,
                lot_id=lot_id,
                movement_id=self.next_id(),
                at=self.now,
                expires_at=self.now + timedelta(days=life_days),
                available_at=self.now + timedelta(days=3) if pending else None,
                reason="purchase",
                source=Source("purchase", lot_id),
                actor="integration:pos",
                purchase_id=lot_id,
                debt_lot=self.store.lots.get(DEBT_LOT_ID),
            )

        if self.post(compute) is not None:
            self.purchases.append((lot_id, points))
            self.credited += points

    @precondition(lambda self: self.purchases)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        lot_id, earned = data.draw(st.sampled_from(self.purchases))
        points = data.draw(st.integers(1, earned))

        def compute(b: Balance) -> L.LedgerChange:
            return L.debit(
                b,
                self.store.open_lots("anon_x"),
                points=points,
                kind="refund_clawback",
                movement_id=self.next_id(),
                at=self.now,
                reason="refund",
                source=Source("refund", lot_id),
                actor="integration:pos",
                first=[lot_id],
                allow_negative=True,
                purchase_id=lot_id,
            )

        change = self.post(compute)
        assert change is not None
        self.reversible.append(change.movement)
        self.debited += points
        self.purchases = [(i, p - points if i == lot_id else p) for i, p in self.purchases]
        self.purchases = [(i, p) for i, p in self.purchases if p > 0]

    @rule(points=st.integers(1, 800))
    def redeem(self, points: int) -> None:
        def compute(b: Balance) -> L.LedgerChange:
            return L.debit(
                b,
                self.store.open_lots("anon_x"),
                points=points,
                kind="redeem",
                movement_id=self.next_id(),
                at=self.now,
                reason="reward",
                source=Source("reward", "r"),
                actor="member",
            )

        before = self.store.balance
        try:
            change = self.post(compute)
        except InsufficientPoints:
            assert self.store.balance == before  # unchanged ledger
            return
        assert change is not None
        self.debited += points
        self.reversible.append(change.movement)

    def _correct_down(self, points: int) -> L.Movement:
        def compute(b: Balance) -> L.LedgerChange:
            return L.debit(
                b,
                self.store.open_lots("anon_x"),
                points=points,
                kind="adjustment",
                movement_id=self.next_id(),
                at=self.now,
                reason="correction",
                source=Source("staff", "ann"),
                actor="staff:ann",
                allow_negative=True,
            )

        change = self.post(compute)
        assert change is not None
        self.debited += points
        return change.movement

    @rule(points=st.integers(1, 1000))
    def staff_correction(self, points: int) -> None:
        """A negative adjustment: may exceed what the member has (the rest goes to debt)."""
        self.reversible.append(self._correct_down(points))

    def _reverse(self, original: L.Movement) -> L.LedgerChange:
        def compute(b: Balance) -> L.LedgerChange:
            # As a caller would read them: the open lots and the ones the original names (an
            # emptied lot is not open any more).
            named = self.store.get_lots("anon_x", [c.lot_id for c in original.lots])
            lots = {lot.lot_id: lot for lot in self.store.open_lots("anon_x")} | named
            return L.reverse(
                b,
                lots.values(),
                original,
                movement_id=self.next_id(),
                at=self.now,
                reason="cancelled",
                source=Source("staff", "ann"),
                actor="staff:ann",
                fallback_expires_at=self.now + timedelta(days=30),
            )

        debt_before = self.store.balance.debt if self.store.balance else 0
        change = self.post(compute)
        assert change is not None
        assert change.movement.points == -original.points
        if original.points < 0:
            self.credited += -original.points
            if any(c.lot_id == DEBT_LOT_ID for c in original.lots):
                event("reversal of a debit that created debt")
            if debt_before:
                event("reversal of a debit while in debt")
        else:
            self.debited += original.points
            event("reversal of a credit")
        return change

    @precondition(lambda self: self.reversible)
    @rule(data=st.data())
    def reverse_a_movement(self, data: st.DataObject) -> None:
        """Reverse any debit (redemption, refund clawback, correction) or award not reversed yet,
        however long ago: its lots may have been spent, expired or released since."""
        index = data.draw(st.integers(0, len(self.reversible) - 1))
        self._reverse(self.reversible.pop(index))

    @precondition(lambda self: self.store.balance is not None)
    @rule(points=st.integers(1, 1000))
    def correction_undone_at_once(self, points: int) -> None:
        """A correction reversed straight away (nothing else in between) gives back exactly what
        it took: same totals, same debt, every lot as it was, no new lot."""
        balance = self.store.balance
        assert balance is not None
        lots_before = {i: lot.remaining for i, lot in self.store.lots.items()}
        correction = self._correct_down(points)
        if any(c.lot_id == DEBT_LOT_ID for c in correction.lots):
            event("correction into debt undone at once")
        self._reverse(correction)
        after = self.store.balance
        assert after is not None
        assert (after.available, after.pending, after.debt) == (
            balance.available,
            balance.pending,
            balance.debt,
        )
        assert {i: lot.remaining for i, lot in self.store.lots.items() if i in lots_before} == lots_before
        assert all(lot.remaining == 0 for i, lot in self.store.lots.items() if i not in lots_before)

    @rule(hours=st.integers(1, 24 * 20))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)
        for lot_id in sorted(self.store.lots):
            self.post(
                lambda b, lot_id=lot_id: L.release(
                    b,
                    self.store.lots[lot_id],
                    movement_id=self.next_id(),
                    at=self.now,
                    debt_lot=self.store.lots.get(DEBT_LOT_ID),
                )
            )
            change = self.post(
                lambda b, lot_id=lot_id: L.expire(
                    b, self.store.lots[lot_id], movement_id=self.next_id(), at=self.now
                )
            )
            if change is not None:
                self.debited += -change.movement.points

    @precondition(lambda self: self.store.balance is not None)
    @rule(first=st.integers(1, 300), second=st.integers(1, 300))
    def two_writers_from_the_same_read(self, first: int, second: int) -> None:
        """Both plan on the same balance; the second write must conflict, then succeed re-planned."""
        read = self.store.balance
        assert read is not None

        def award(points: int) -> Any:
            def compute(b: Balance) -> L.LedgerChange:
                return L.earn(
                    b,
                    points=points,
                    lot_id=self.next_id("award"),
                    movement_id=self.next_id(),
                    at=self.now,
                    expires_at=self.now + timedelta(days=30),
                    kind="adjustment",
                    reason="campaign",
                    source=Source("campaign", "c"),
                    actor="system",
                    debt_lot=self.store.lots.get(DEBT_LOT_ID),
                )

            return compute

        stale_plan = award(second)(read)
        assert self.post(award(first)) is not None
        conflicts = self.store.conflicts
        assert self.store.post(stale_plan).status == "conflict"
        assert self.store.conflicts == conflicts + 1
        awarded = self.post(award(second))
        assert awarded is not None
        self.reversible.append(awarded.movement)
        self.credited += first + second

    @invariant()
    def balance_is_the_sum_of_lots(self) -> None:
        balance = self.store.balance
        if balance is None:
            return
        assert L.check_invariants(balance, self.store.lots.values(), at=self.now) == []

    @invariant()
    def no_point_created_or_lost(self) -> None:
        balance = self.store.balance
        if balance is None:
            return
        total = balance.available + balance.pending
        assert total == sum(lot.remaining for lot in self.store.lots.values())
        assert total == sum(c.delta for m in self.store.movements for c in m.lots)
        assert total == self.credited - self.debited
        assert total == sum(m.points for m in self.store.movements if m.kind != "release")


TestLedgerProperties = LedgerMachine.TestCase
TestLedgerProperties.settings = settings(
    max_examples=120, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
