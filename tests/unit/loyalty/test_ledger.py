"""The pure ledger: lots, oldest-first spending, pending, debt, expiry, reversal, invariants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.loyalty.logic import ledger as L
from services.loyalty.logic.ledger import DEBT_LOT_ID, Balance, InsufficientPoints, Lot, Source
from shared.errors import Unprocessable

T0 = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


class Book:
    """A balance and its lots, applying changes as the repository would."""

    def __init__(self) -> None:
        self.balance = L.new_balance("anon_x", "01HX9ZK3M5N7P9Q1R3S5T7V9WX")
        self.lots: dict[str, Lot] = {}
        self.movements: list[L.Movement] = []
        self.n = 0

    def mid(self) -> str:
        self.n += 1
        return f"m{self.n:04d}"

    def apply(self, change: L.LedgerChange | None) -> L.LedgerChange | None:
        if change is None:
            return None
        assert change.before == self.balance
        self.balance = L.replace_version(change.after, self.balance.version + 1)
        self.lots = L.apply_to_lots(self.lots, change)
        self.movements.append(change.movement)
        assert L.check_invariants(self.balance, self.lots.values(), at=change.movement.at) == []
        return change

    def earn(
        self,
        points: int,
        at: datetime = T0,
        *,
        expires: datetime | None = None,
        pending_until: datetime | None = None,
    ) -> L.LedgerChange | None:
        lot_id = f"lot{self.n + 1}"
        return self.apply(
            L.earn(
                self.balance,
                points=points,
                lot_id=lot_id,
                movement_id=self.mid(),
                at=at,
                expires_at=expires or at + YEAR,
                available_at=pending_until,
                reason="purchase",
                source=Source("purchase", lot_id),
                actor="integration:pos",
                purchase_id=lot_id,
                debt_lot=self.lots.get(DEBT_LOT_ID),
            )
        )

    def debit(self, points: int, at: datetime = T0, **kw: Any) -> L.LedgerChange | None:
        kw.setdefault("kind", "redeem")
        return self.apply(
            L.debit(
                self.balance,
                self.lots.values(),
                points=points,
                movement_id=self.mid(),
                at=at,
                reason="test",
                source=Source("reward", "r1"),
                actor="member",
                **kw,
            )
        )


def test_earn_creates_an_available_lot_and_a_movement_with_balance_after() -> None:
    book = Book()
    change = book.earn(100)
    assert change is not None
    assert book.balance.available == 100
    assert change.movement.kind == "earn"
    assert change.movement.points == 100
    assert change.movement.balance_after == 100
    assert change.movement.actor == "integration:pos"
    assert change.movement.source == Source("purchase", "lot1")
    assert book.lots["lot1"].remaining == 100


def test_spending_takes_the_lot_that_expires_first() -> None:
    book = Book()
    book.earn(100, expires=T0 + timedelta(days=300))  # lot1
    book.earn(50, expires=T0 + timedelta(days=30))  # lot2 - older by expiry
    change = book.debit(70)
    assert change is not None
    assert [(c.lot_id, c.delta) for c in change.movement.lots] == [("lot2", -50), ("lot1", -20)]
    assert book.balance.available == 80
    assert change.movement.points == -70


def test_insufficient_points_raise_and_change_nothing() -> None:
    book = Book()
    book.earn(10)
    before = book.balance
    with pytest.raises(InsufficientPoints):
        book.debit(11)
    assert book.balance == before


def test_pending_points_are_not_spendable_until_released() -> None:
    book = Book()
    book.earn(100, pending_until=T0 + timedelta(days=7))
    assert (book.balance.available, book.balance.pending) == (0, 100)
    assert book.movements[-1].kind == "pending"
    with pytest.raises(InsufficientPoints):
        book.debit(1)
    assert L.release(book.balance, book.lots["lot1"], movement_id="x", at=T0 + timedelta(days=6)) is None
    book.apply(L.release(book.balance, book.lots["lot1"], movement_id=book.mid(), at=T0 + timedelta(days=7)))
    assert (book.balance.available, book.balance.pending) == (100, 0)
    released = book.movements[-1]  # a fresh read: mypy keeps the "pending" narrowed above
    assert released.kind == "release"
    # a second release of the same lot does nothing
    assert L.release(book.balance, book.lots["lot1"], movement_id="y", at=T0 + timedelta(days=8)) is None


def test_a_clawback_beyond_what_is_left_goes_to_a_visible_debt_paid_by_the_next_points() -> None:
    book = Book()
    book.earn(100)  # lot1
    book.debit(80)
    change = book.debit(100, kind="refund_clawback", first=["lot1"], allow_negative=True)
    assert change is not None
    assert book.balance.available == -80
    assert book.balance.debt == 80
    assert book.lots[DEBT_LOT_ID].remaining == -80
    assert change.movement.balance_after == -80
    book.earn(50)
    assert book.balance.available == -30
    assert book.balance.debt == 30
    book.earn(50)
    assert (book.balance.available, book.balance.debt) == (20, 0)


def test_clawback_takes_the_purchases_own_lots_first_even_pending() -> None:
    book = Book()
    book.earn(100)  # lot1, available
    book.earn(40, pending_until=T0 + timedelta(days=7))  # lot2, pending
    change = book.debit(40, kind="refund_clawback", first=["lot2"], allow_negative=True)
    assert change is not None
    assert [(c.lot_id, c.delta) for c in change.movement.lots] == [("lot2", -40)]
    assert (book.balance.available, book.balance.pending) == (100, 0)


def test_expiry_removes_what_is_left_of_a_lot() -> None:
    book = Book()
    book.earn(100, expires=T0 + timedelta(days=10))
    book.debit(30)
    assert L.expire(book.balance, book.lots["lot1"], movement_id="x", at=T0 + timedelta(days=9)) is None
    change = book.apply(
        L.expire(book.balance, book.lots["lot1"], movement_id=book.mid(), at=T0 + timedelta(days=10))
    )
    assert change is not None
    assert change.movement.points == -70
    assert book.balance.available == 0
    assert book.lots["lot1"].status == "expired"
    assert L.expire(book.balance, book.lots["lot1"], movement_id="y", at=T0 + timedelta(days=11)) is None


def test_expired_lots_are_not_spent() -> None:
    book = Book()
    book.earn(100, expires=T0 + timedelta(days=1))
    with pytest.raises(InsufficientPoints):
        book.debit(1, at=T0 + timedelta(days=2))


def test_reversing_a_redemption_credits_the_same_lots_back() -> None:
    book = Book()
    book.earn(100)
    redeem = book.debit(60)
    assert redeem is not None
    change = book.apply(
        L.reverse(
            book.balance,
            book.lots.values(),
            redeem.movement,
            movement_id=book.mid(),
            at=T0,
            reason="reward_cancelled",
            source=Source("reward", "r1"),
            actor="staff:ann",
            fallback_expires_at=T0 + YEAR,
        )
    )
    assert change is not None
    assert change.movement.kind == "reversal"
    assert change.movement.reverses == redeem.movement.movement_id
    assert book.balance.available == 100
    assert book.lots["lot1"].remaining == 100


def test_reversing_a_debit_whose_lot_expired_restores_into_a_new_lot() -> None:
    book = Book()
    book.earn(100, expires=T0 + timedelta(days=1))
    redeem = book.debit(60)
    assert redeem is not None
    later = T0 + timedelta(days=2)
    book.apply(L.expire(book.balance, book.lots["lot1"], movement_id=book.mid(), at=later))
    change = book.apply(
        L.reverse(
            book.balance,
            book.lots.values(),
            redeem.movement,
            movement_id="rev1",
            at=later,
            reason="reward_cancelled",
            source=Source("reward", "r1"),
            actor="staff:ann",
            fallback_expires_at=later + YEAR,
        )
    )
    assert change is not None
    assert book.lots["Rrev1"].remaining == 60
    assert book.balance.available == 60


def test_reversing_a_credit_takes_it_back_even_into_debt() -> None:
    book = Book()
    award = book.earn(100)
    assert award is not None
    book.debit(100)
    book.apply(
        L.reverse(
            book.balance,
            book.lots.values(),
            award.movement,
            movement_id=book.mid(),
            at=T0,
            reason="award_in_error",
            source=Source("staff", "ann"),
            actor="staff:ann",
            fallback_expires_at=T0 + YEAR,
        )
    )
    assert book.balance.available == -100


def _reverse(book: Book, original: L.Movement, *, movement_id: str | None = None) -> L.LedgerChange:
    change = book.apply(
        L.reverse(
            book.balance,
            book.lots.values(),
            original,
            movement_id=movement_id or book.mid(),
            at=T0,
            reason="correction_in_error",
            source=Source("staff", "ann"),
            actor="staff:ann",
            fallback_expires_at=T0 + YEAR,
        )
    )
    assert change is not None
    return change


def test_reversing_a_debit_that_created_debt_pays_the_debt_back_instead_of_a_new_lot() -> None:
    # The case noticed in session 5: the reversal used to leave available 100, debt 50 and lots
    # 100 + 50 (150 spendable) — more than the member had before the correction.
    book = Book()
    book.earn(100)  # lot1
    correction = book.debit(150, kind="adjustment", allow_negative=True)
    assert correction is not None
    assert (book.balance.available, book.balance.debt) == (-50, 50)
    change = _reverse(book, correction.movement, movement_id="rev1")
    assert (book.balance.available, book.balance.pending, book.balance.debt) == (100, 0, 0)
    assert book.lots["lot1"].remaining == 100
    assert book.lots[DEBT_LOT_ID].remaining == 0
    assert "Rrev1" not in book.lots  # nothing created beside what the correction took
    assert change.movement.points == 150
    assert [(c.lot_id, c.delta) for c in change.movement.lots] == [("lot1", 100), (DEBT_LOT_ID, 50)]
    assert change.movement.balance_after == 100


def test_a_reversal_credited_back_to_its_lots_pays_debt_made_since_first() -> None:
    book = Book()
    book.earn(100)  # lot1
    redeem = book.debit(100)
    assert redeem is not None
    book.debit(30, kind="adjustment", allow_negative=True)  # debt 30, nothing left to take
    change = _reverse(book, redeem.movement)
    # Before the fix lot1 got its 100 back while the debt stayed: 100 spendable, available 70.
    assert (book.balance.available, book.balance.debt) == (70, 0)
    assert book.lots["lot1"].remaining == 70
    assert [(c.lot_id, c.delta) for c in change.movement.lots] == [("lot1", 70), (DEBT_LOT_ID, 30)]


def test_reversing_a_debit_whose_debt_was_paid_since_gives_the_points_back_in_a_new_lot() -> None:
    book = Book()
    book.earn(100)  # lot1
    correction = book.debit(150, kind="adjustment", allow_negative=True)
    assert correction is not None
    book.earn(80)  # lot3: 50 pay the debt, 30 stay
    assert (book.balance.available, book.balance.debt, book.lots["lot3"].remaining) == (30, 0, 30)
    change = _reverse(book, correction.movement, movement_id="rev1")
    # The member's own 50 points paid the correction's debt: undoing it gives them back.
    assert (book.balance.available, book.balance.debt) == (180, 0)
    assert (book.lots["lot1"].remaining, book.lots["Rrev1"].remaining) == (100, 50)
    assert change.movement.points == 150


def test_points_must_be_positive() -> None:
    book = Book()
    with pytest.raises(Unprocessable):
        book.earn(0)
    with pytest.raises(Unprocessable):
        book.debit(-5)


def test_check_invariants_reports_a_mismatch() -> None:
    balance = Balance(ledger_id="anon_x", member_id=None, available=5)
    assert L.check_invariants(balance, []) == ["available 5 != sum of available lots 0"]


def test_check_invariants_at_an_instant_reports_debt_beside_spendable_points() -> None:
    lots = [
        Lot("lot1", 100, 100, "available", T0, None, T0 + YEAR, Source("purchase")),
        Lot(DEBT_LOT_ID, 0, -50, "available", T0, None, None, Source("system")),
    ]
    balance = Balance(ledger_id="anon_x", member_id=None, available=50, debt=50)
    assert L.check_invariants(balance, lots) == []
    assert L.check_invariants(balance, lots, at=T0) == ["debt 50 unpaid beside spendable points in lot1"]
    # a lot past its expiry (not yet expired by the job) is not spendable
    assert L.check_invariants(balance, lots, at=T0 + YEAR) == []


def test_with_after_refuses_to_change_point_totals() -> None:
    book = Book()
    change = L.earn(
        book.balance,
        points=5,
        lot_id="a",
        movement_id="m",
        at=T0,
        expires_at=T0 + YEAR,
        reason="purchase",
        source=Source("purchase"),
        actor="system",
    )
    assert change.with_after(L.replace_version(change.after, 0)).after.available == 5
    with pytest.raises(ValueError, match="point totals"):
        change.with_after(Balance(ledger_id="anon_x", member_id=None, available=6))


# A caller's own transaction items, which post_movement passes through to the store.
STOCK_ITEM: dict[str, Any] = {"Update": {"Key": "stock"}}
FAILING_ITEM: dict[str, Any] = {"ConditionCheck": {"Key": "fail"}}  # FakeStore fails its condition


class FakeStore:
    """post_movement's store: versions checked like the DynamoDB condition."""

    def __init__(self, conflicts: int = 0) -> None:
        self.balance: Balance | None = None
        self.lots: dict[str, Lot] = {}
        self.conflicts = conflicts
        self.requests: dict[str, dict[str, object]] = {}
        self.extras: list[Mapping[str, Any]] = []

    def get_balance(self, ledger_id: str) -> Balance | None:
        return self.balance

    def open_lots(self, ledger_id: str) -> list[Lot]:
        return [lot for lot in self.lots.values() if lot.remaining]

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
        if self.conflicts:
            self.conflicts -= 1
            return L.PostResult("conflict")
        if idempotency_key in self.requests:
            return L.PostResult("replayed", previous=self.requests[idempotency_key])
        if extra and extra[0] == FAILING_ITEM:
            return L.PostResult("extra_failed", extra_failed_indexes=(0,))
        self.balance = L.replace_version(change.after, change.before.version + 1)
        self.lots = L.apply_to_lots(self.lots, change)
        self.extras.extend(extra)
        if idempotency_key:
            self.requests[idempotency_key] = {"movement_id": change.movement.movement_id}
        return L.PostResult("posted")


def _award(balance: Balance) -> L.LedgerChange:
    return L.earn(
        balance,
        points=10,
        lot_id="a1",
        movement_id="m1",
        at=T0,
        expires_at=T0 + YEAR,
        kind="adjustment",
        reason="campaign",
        source=Source("campaign", "c1"),
        actor="system",
    )


def test_post_movement_retries_a_conflict_and_replays_an_idempotency_key() -> None:
    store = FakeStore(conflicts=2)
    outcome = L.post_movement(store, "anon_x", "m", _award, extra=lambda c: [STOCK_ITEM], idempotency_key="k")
    assert outcome.change is not None and not outcome.replayed
    assert store.balance is not None and store.balance.available == 10
    assert store.extras == [STOCK_ITEM]
    again = L.post_movement(store, "anon_x", "m", _award, idempotency_key="k")
    assert again.replayed and again.previous == {"movement_id": "m1"}


def test_post_movement_gives_up_after_repeated_conflicts_and_reports_failed_extras() -> None:
    with pytest.raises(L.LedgerBusy):
        L.post_movement(FakeStore(conflicts=10), "anon_x", "m", _award, attempts=3)
    with pytest.raises(L.ExtraItemsFailed) as failed:
        L.post_movement(FakeStore(), "anon_x", "m", _award, extra=lambda c: [FAILING_ITEM])
    assert failed.value.indexes == (0,)
