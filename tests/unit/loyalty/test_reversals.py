"""Staff reversals, pure: which movements staff may reverse, the request and approval workflow
(shared with points adjustments) on in-memory fakes, the request model, and the ledger's part
(``reverse`` of an earning lowers the lifetime figure; a store's ``already_reversed`` is a 409)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.loyalty.logic import adjustments as logic
from services.loyalty.logic import ledger as L
from services.loyalty.logic.ledger import Balance, Lot, LotChange, Movement, Source
from services.loyalty.logic.reversals import check_reversible, refusal
from services.loyalty.logic.wallet_errors import (
    AdjustmentNotPending,
    MovementIsReversal,
    MovementNotFound,
    MovementNotReversible,
    SelfApproval,
)
from services.loyalty.models.adjustments import Adjustment, AdjustmentRequest, MemberAdjustmentRequest

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
ALICE = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
MOVEMENT = "01HZ7777777777777777777777"


def movement(kind: Any = "earn", points: int = 100, purchase_id: str | None = None, **kw: Any) -> Movement:
    return Movement(
        movement_id=MOVEMENT,
        ledger_id="anon_x",
        kind=kind,
        points=points,
        reason="r",
        source=Source("campaign", "c1"),
        actor="system",
        at=NOW,
        balance_after=points,
        pending_after=0,
        lots=(LotChange("lot1", points),),
        purchase_id=purchase_id,
        **kw,
    )


# --- which movements -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "points", "purchase_id"),
    [("earn", 100, None), ("redeem", -300, None), ("adjustment", 50, None), ("adjustment", -50, None)],
)
def test_staff_may_reverse_awards_redemptions_and_adjustments(
    kind: str, points: int, purchase_id: str | None
) -> None:
    assert refusal(movement(kind, points, purchase_id)) is None
    check_reversible(movement(kind, points, purchase_id))


@pytest.mark.parametrize(
    ("kind", "points", "purchase_id"),
    [
        ("earn", 259, "purchase-1"),  # a purchase's points follow its refunds
        ("pending", 259, "purchase-1"),
        ("release", 259, "purchase-1"),
        ("refund_clawback", -259, "purchase-1"),
        ("expire", -40, None),
        ("adjustment", 0, None),
    ],
)
def test_kinds_that_are_not_staffs_to_undo_are_422_with_a_reason(
    kind: str, points: int, purchase_id: str | None
) -> None:
    with pytest.raises(MovementNotReversible) as raised:
        check_reversible(movement(kind, points, purchase_id))
    assert raised.value.status == 422 and raised.value.code == "movement_not_reversible"
    assert raised.value.fields[0]["field"] == "reverses" and raised.value.fields[0]["message"]


def test_a_reversal_is_not_reversed() -> None:
    with pytest.raises(MovementIsReversal) as raised:
        check_reversible(movement("reversal", -100, reverses="01HZ6666666666666666666666"))
    assert (raised.value.status, raised.value.code) == (409, "movement_is_reversal")


# --- the request model -----------------------------------------------------------------------------


def test_a_request_names_points_or_a_movement_never_both_and_always_a_reason() -> None:
    asked = MemberAdjustmentRequest.model_validate({"reverses": MOVEMENT, "reason": "  wrong award "})
    assert (asked.points, asked.reverses, asked.reason) == (None, MOVEMENT, "wrong award")
    assert (
        AdjustmentRequest.model_validate({"member_id": ALICE, "points": 5, "reason": "goodwill"}).points == 5
    )
    for body in (
        {"reason": "neither"},
        {"points": 5, "reverses": MOVEMENT, "reason": "both"},
        {"reverses": MOVEMENT},
        {"reverses": MOVEMENT, "reason": "   "},
        {"reverses": "not a movement id", "reason": "bad id"},
    ):
        with pytest.raises(ValidationError):
            MemberAdjustmentRequest.model_validate(body)


# --- the workflow on fakes -----------------------------------------------------------------------


class FakeLedger:
    """The member's movements as the request sees them: ``{(member, movement id): movement}``."""

    def __init__(
        self, movements: Mapping[tuple[str, str], Movement], reversed_ids: Sequence[str] = ()
    ) -> None:
        self.movements = dict(movements)
        self.reversed_ids = set(reversed_ids)

    def movement(self, member_id: str, movement_id: str) -> Movement | None:
        return self.movements.get((member_id, movement_id))

    def reversed_by(self, member_id: str, movement_id: str) -> str | None:
        return "R1" if movement_id in self.reversed_ids else None


class FakeRepo:
    """Records what was asked; ``apply`` marks the adjustment applied (or loses a race)."""

    def __init__(self) -> None:
        self.items: dict[str, Adjustment] = {}
        self.applied_calls: list[str] = []
        self.lose_race_to: str | None = None

    def create(self, adjustment: Adjustment, *, request_key: str | None) -> Adjustment | None:
        self.items[adjustment.adjustment_id] = adjustment
        return None

    def get(self, adjustment_id: str) -> Adjustment | None:
        return self.items.get(adjustment_id)

    def by_request(self, request_key: str) -> Adjustment | None:
        return None

    def pending(self, limit: int) -> list[Adjustment]:
        return [a for a in self.items.values() if a.status == "pending"][:limit]

    def apply(
        self, adjustment: Adjustment, approver: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        self.applied_calls.append(approver)
        winner = self.lose_race_to or approver
        done = adjustment.model_copy(
            update={"status": "applied", "decided_by": winner, "decided_at": now, "movement_id": "M2"}
        )
        self.items[adjustment.adjustment_id] = done
        return None if self.lose_race_to else done

    def reject(
        self, adjustment: Adjustment, rejecter: str, reason: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        raise AssertionError("not used")


def ask(repo: FakeRepo, ledger: FakeLedger, movement_id: str = MOVEMENT) -> logic.Created:
    return logic.request_reversal(
        member_id=ALICE,
        movement_id=movement_id,
        reason="wrong award",
        requested_by="agent-1",
        repo=repo,
        ledger=ledger,
        now=NOW,
        new_id=lambda: "adj1",
    )


def test_a_request_is_pending_with_the_opposite_points_and_nothing_else() -> None:
    repo = FakeRepo()
    created = ask(repo, FakeLedger({(ALICE, MOVEMENT): movement("redeem", -300)}))

    assert created.replayed is False
    assert repo.items["adj1"].status == "pending"
    assert (repo.items["adj1"].points, repo.items["adj1"].reverses) == (300, MOVEMENT)
    assert repo.applied_calls == []


@pytest.mark.parametrize(
    ("ledger", "error"),
    [
        (FakeLedger({}), MovementNotFound),
        (FakeLedger({("01HX9ZK3M5N7P9Q1R3S5T7V9WY", MOVEMENT): movement()}), MovementNotFound),
        (FakeLedger({(ALICE, MOVEMENT): movement()}, reversed_ids=[MOVEMENT]), L.AlreadyReversed),
        (FakeLedger({(ALICE, MOVEMENT): movement("reversal", -100)}), MovementIsReversal),
        (FakeLedger({(ALICE, MOVEMENT): movement("expire", -100)}), MovementNotReversible),
    ],
)
def test_a_refused_request_stores_nothing(ledger: FakeLedger, error: type[Exception]) -> None:
    repo = FakeRepo()
    with pytest.raises(error):
        ask(repo, ledger)
    assert repo.items == {}


def _pending(repo: FakeRepo) -> None:
    ask(repo, FakeLedger({(ALICE, MOVEMENT): movement()}))


def test_the_requester_cannot_approve_and_a_second_person_applies_it_once() -> None:
    repo = FakeRepo()
    _pending(repo)

    with pytest.raises(SelfApproval):
        logic.approve_adjustment("adj1", "agent-1", repo, now=NOW, correlation_id="c")
    applied = logic.approve_adjustment("adj1", "ops-2", repo, now=NOW, correlation_id="c")
    retried = logic.approve_adjustment("adj1", "ops-2", repo, now=NOW, correlation_id="c")
    with pytest.raises(AdjustmentNotPending):
        logic.approve_adjustment("adj1", "ops-3", repo, now=NOW, correlation_id="c")

    assert applied.status == "applied" and retried == applied
    assert repo.applied_calls == ["ops-2"]  # the retry moved nothing


@pytest.mark.parametrize(("winner", "answered"), [("ops-2", True), ("ops-3", False)])
def test_an_approval_that_lost_the_race_answers_only_its_own_twin(winner: str, answered: bool) -> None:
    repo = FakeRepo()
    _pending(repo)
    repo.lose_race_to = winner  # decided between this approval's read and its write

    if answered:
        assert (
            logic.approve_adjustment("adj1", "ops-2", repo, now=NOW, correlation_id="c").decided_by == winner
        )
    else:
        with pytest.raises(AdjustmentNotPending):
            logic.approve_adjustment("adj1", "ops-2", repo, now=NOW, correlation_id="c")


# --- the ledger's part ---------------------------------------------------------------------------


def _lot(lot_id: str, points: int) -> Lot:
    return Lot(
        lot_id=lot_id,
        points=points,
        remaining=points,
        status="available",
        earned_at=NOW,
        available_at=None,
        expires_at=NOW + timedelta(days=365),
        source=Source("campaign", "c1"),
    )


@pytest.mark.parametrize(("kind", "lifetime_after"), [("earn", 0), ("adjustment", 100)])
def test_taking_back_an_earning_lowers_the_lifetime_figure_an_adjustment_does_not(
    kind: Any, lifetime_after: int
) -> None:
    balance = Balance(ledger_id="anon_x", member_id=ALICE, available=100, version=1, lifetime_earned=100)
    credit = replace(movement(kind, 100), lots=(LotChange("lot1", 100),))

    change = L.reverse(
        balance,
        [_lot("lot1", 100)],
        credit,
        movement_id="rev1",
        at=NOW,
        reason="reversal: wrong",
        source=Source("staff", "adj1"),
        actor="staff:ops-2",
        fallback_expires_at=NOW + timedelta(days=365),
    )

    assert change.after.lifetime_earned == lifetime_after and change.after.available == 0
    assert (change.movement.kind, change.movement.points, change.movement.reverses) == (
        "reversal",
        -100,
        MOVEMENT,
    )


class _ReversedStore:
    """A store whose every post reports the reversed movement's marker as taken."""

    def __init__(self) -> None:
        self.posts = 0

    def get_balance(self, ledger_id: str) -> Balance | None:
        return Balance(ledger_id=ledger_id, member_id=ALICE, available=100, version=1)

    def open_lots(self, ledger_id: str) -> list[Lot]:
        return [_lot("lot1", 100)]

    def get_lots(self, ledger_id: str, lot_ids: Sequence[str]) -> dict[str, Lot]:
        return {}

    def post(self, change: L.LedgerChange, **kw: Any) -> L.PostResult:
        self.posts += 1
        return L.PostResult("already_reversed")


def test_a_reversal_the_store_finds_already_made_is_a_409_without_retrying() -> None:
    store = _ReversedStore()

    def compute(b: Balance) -> L.LedgerChange:
        return L.reverse(
            b,
            store.open_lots("anon_x"),
            movement(),
            movement_id="rev1",
            at=NOW,
            reason="r",
            source=Source("staff", "adj1"),
            actor="staff:ops-2",
            fallback_expires_at=NOW + timedelta(days=365),
        )

    with pytest.raises(L.AlreadyReversed) as raised:
        L.post_movement(store, "anon_x", ALICE, compute)
    assert (raised.value.status, raised.value.code, store.posts) == (409, "movement_already_reversed", 1)
