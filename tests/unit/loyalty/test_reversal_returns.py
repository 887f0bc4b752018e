"""Pure parts of session 6's RV2 fixes: what reversing a redemption undoes (``plan_return``), a
reversal request retried with its request id, and adjustments of an erased member (409
``member_erased``), on in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.loyalty.logic import adjustments as logic
from services.loyalty.logic.ledger import LotChange, Movement, Source
from services.loyalty.logic.rewards import plan_return
from services.loyalty.logic.wallet_errors import (
    MemberErasedError,
    MovementNotFound,
    RequestReplayConflict,
    RewardCouponUsed,
)
from services.loyalty.models.adjustments import Adjustment
from services.loyalty.models.coupons import Coupon
from services.loyalty.models.rewards import Redemption, Reward

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
ALICE = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
MOVEMENT = "01HZ7777777777777777777777"


def redemption(coupon_id: str | None = None) -> Redemption:
    return Redemption(
        redemption_id="rd1",
        request_id="redeem-0001",
        member_id=ALICE,
        reward_id="tote",
        reward_name="Tote",
        kind="coupon" if coupon_id else "gift",
        points=300,
        movement_id=MOVEMENT,
        balance_after=200,
        coupon_id=coupon_id,
        redeemed_at=NOW,
    )


def reward(stock_tracked: bool = True) -> Reward:
    return Reward(
        reward_id="tote",
        name="Tote",
        kind="gift",
        points_cost=300,
        stock_tracked=stock_tracked,
        per_member_limit=1,
        created_at=NOW,
        created_by="staff:ops",
    )


def coupon(status: Any) -> Coupon:
    return Coupon(
        coupon_id="c1",
        code="ABCD1234",
        template_id="t1",
        member_id=ALICE,
        reason="reward",
        kind="parking",
        name="Parking",
        valid_from=NOW,
        valid_until=NOW + timedelta(days=30),
        issued_at=NOW,
        status=status,
    )


class TestPlanReturn:
    def test_a_gift_gets_its_stock_and_count_back(self) -> None:
        plan = plan_return(redemption(), reward=reward(), reward_count=1, coupon=None)
        assert (plan.restock, plan.uncount, plan.void_coupon, plan.coupon_uncount) == (
            True,
            True,
            None,
            False,
        )

    def test_unlimited_stock_and_no_counter_leave_both_alone(self) -> None:
        plan = plan_return(redemption(), reward=reward(stock_tracked=False), reward_count=0, coupon=None)
        assert (plan.restock, plan.uncount) == (False, False)
        assert plan_return(redemption(), reward=None, reward_count=0, coupon=None).restock is False

    def test_an_unused_coupon_is_voided_with_its_count(self) -> None:
        issued = coupon("issued")
        plan = plan_return(redemption("c1"), reward=reward(), reward_count=1, coupon=issued, coupon_count=1)
        assert plan.void_coupon == issued and plan.coupon_uncount is True

    @pytest.mark.parametrize("status", ["expired", "revoked"])
    def test_an_expired_or_revoked_coupon_is_left_as_it_is(self, status: str) -> None:
        plan = plan_return(
            redemption("c1"), reward=reward(), reward_count=1, coupon=coupon(status), coupon_count=1
        )
        assert plan.void_coupon is None and plan.coupon_uncount is False

    def test_a_used_coupon_refuses_the_return(self) -> None:
        with pytest.raises(RewardCouponUsed):
            plan_return(redemption("c1"), reward=reward(), reward_count=1, coupon=coupon("redeemed"))


def adjustment(**update: Any) -> Adjustment:
    base = Adjustment(
        adjustment_id="adj1",
        member_id=ALICE,
        points=-100,
        reason="wrong award",
        requested_by="agent-1",
        requested_at=NOW,
        reverses=MOVEMENT,
    )
    return base.model_copy(update=update)


class Repo:
    """One stored adjustment, found by id and by request key; records writes."""

    def __init__(self, stored: Adjustment | None = None) -> None:
        self.stored = stored
        self.writes: list[str] = []

    def create(self, adjustment: Adjustment, *, request_key: str | None) -> Adjustment | None:
        self.writes.append("create")
        return None

    def get(self, adjustment_id: str) -> Adjustment | None:
        return self.stored

    def by_request(self, request_key: str) -> Adjustment | None:
        return self.stored

    def pending(self, limit: int) -> list[Adjustment]:
        return []

    def apply(
        self, adjustment: Adjustment, approver: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        self.writes.append("apply")
        return adjustment

    def reject(
        self, adjustment: Adjustment, rejecter: str, reason: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        self.writes.append("reject")
        return adjustment


class Ledger:
    def __init__(self, movement: Movement | None = None) -> None:
        self.found = movement

    def movement(self, member_id: str, movement_id: str) -> Movement | None:
        return self.found

    def reversed_by(self, member_id: str, movement_id: str) -> str | None:
        return None


class UsedCoupon:
    def reward_return(self, member_id: str, movement: Movement) -> object | None:
        raise RewardCouponUsed()


def redeem_movement() -> Movement:
    return Movement(
        movement_id=MOVEMENT,
        ledger_id="anon_x",
        kind="redeem",
        points=-300,
        reason="reward:tote",
        source=Source("reward", "tote"),
        actor="member",
        at=NOW,
        balance_after=200,
        pending_after=0,
        lots=(LotChange("lot1", -300),),
    )


def ask(repo: Repo, ledger: Ledger, movement_id: str = MOVEMENT, **kw: Any) -> logic.Created:
    return logic.request_reversal(
        member_id=ALICE,
        movement_id=movement_id,
        reason="wrong award",
        requested_by="agent-1",
        repo=repo,
        ledger=ledger,
        now=NOW,
        new_id=lambda: "adj2",
        **kw,
    )


class TestReversalRequests:
    def test_a_retry_answers_the_stored_adjustment_before_any_movement_check(self) -> None:
        applied = adjustment(status="applied", decided_by="ops-2")
        created = ask(
            Repo(applied), Ledger(None), request_key="staff#agent-1#r1"
        )  # no movement: 404 otherwise
        assert created == logic.Created(applied, replayed=True)

    def test_a_retry_naming_another_movement_is_409(self) -> None:
        with pytest.raises(RequestReplayConflict):
            ask(Repo(adjustment()), Ledger(None), movement_id="01HZ8888888888888888888888", request_key="k")

    def test_without_a_request_key_the_movement_is_checked(self) -> None:
        with pytest.raises(MovementNotFound):
            ask(Repo(adjustment()), Ledger(None))

    def test_a_redemption_whose_coupon_was_used_is_refused_and_nothing_is_stored(self) -> None:
        repo = Repo()
        with pytest.raises(RewardCouponUsed):
            ask(repo, Ledger(redeem_movement()), returns=UsedCoupon())
        assert repo.writes == []


class TestErasedMember:
    def test_an_adjustment_closed_by_the_erasure_is_neither_approved_nor_rejected(self) -> None:
        repo = Repo(adjustment(status="rejected", rejection_reason="member_erased", member_id="anon_x"))
        with pytest.raises(MemberErasedError):
            logic.approve_adjustment("adj1", "ops-2", repo, now=NOW, correlation_id="c")
        with pytest.raises(MemberErasedError):
            logic.reject_adjustment("adj1", "ops-2", "no", repo, now=NOW, correlation_id="c")
        assert repo.writes == []
