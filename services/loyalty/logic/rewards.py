"""The rewards catalogue and redemptions (pure; the repository writes).

A redemption spends the reward's points **in the same transaction** as the reward's stock, the
member's per-reward counter, the redemption record (keyed by the member's ``request_id``: a
retry finds it) and, for a coupon reward, the coupon itself (with its budget shard). The points
move through L1's ledger (``post_movement``): the stock and counter are the transaction's first
items, so when two members race for the last item one transaction commits and the other fails
its stock condition — it is told ``reward_out_of_stock`` and keeps its points.

A redemption is **returned** when staff reverse its ``redeem`` movement (logic/reversals.py; the
gift was never collected or came back): in the reversal's transaction the reward's stock gets its
item back, the member's per-reward counter its count, and a coupon the reward issued is revoked if
unused (with its template's budget and the member's per-template count). A used coupon makes the
redemption irreversible (409 ``reward_coupon_used``); an expired one is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from services.loyalty.logic.wallet_errors import (
    CouponBudgetExhausted,
    CouponLimitReached,
    MemberErasedError,
    RequestReplayConflict,
    RewardCouponUsed,
    RewardExists,
    RewardLimitReached,
    RewardNotFound,
    RewardOutOfStock,
    RewardUnavailable,
    TemplateNotFound,
    TemplateNotIssuable,
)
from services.loyalty.models.coupons import Coupon
from services.loyalty.models.rewards import Redemption, RedemptionRequest, Reward, RewardIn, RewardPatch


class RedeemFailure(Enum):
    OUT_OF_STOCK = "out_of_stock"
    LIMIT_REACHED = "limit_reached"
    COUPON_BUDGET = "coupon_budget"
    COUPON_LIMIT = "coupon_limit"
    COUPON_TEMPLATE = "coupon_template"
    MEMBER_ERASED = "member_erased"


@dataclass(frozen=True)
class RedeemResult:
    redemption: Redemption | None
    replayed: bool = False
    failure: RedeemFailure | None = None


class RewardRepository(Protocol):
    def create(self, reward: Reward, stock: int | None) -> bool: ...

    def get(self, reward_id: str) -> Reward | None: ...

    def all_rewards(self) -> list[Reward]: ...

    def stock(self, reward_ids: list[str]) -> dict[str, int]: ...

    def update(self, reward: Reward, add_stock: int) -> None: ...

    def get_redemption(self, member_id: str, request_id: str) -> Redemption | None: ...

    def redeem(
        self, reward: Reward, member_id: str, request_id: str, *, now: datetime, correlation_id: str
    ) -> RedeemResult:
        """Spend the points with the stock, counter, record (and coupon) in one transaction."""


@dataclass(frozen=True)
class RewardReturn:
    """What reversing a redemption undoes besides the points (see the module doc)."""

    redemption: Redemption
    restock: bool
    """The reward's stock is tracked: it gets its item back."""
    uncount: bool
    """The member's per-reward counter holds a redemption: it loses one."""
    void_coupon: Coupon | None
    """The unused coupon the reward issued: revoked."""
    coupon_uncount: bool = False
    """The member's per-template coupon counter holds one: it loses one (with ``void_coupon``)."""


def plan_return(
    redemption: Redemption,
    *,
    reward: Reward | None,
    reward_count: int,
    coupon: Coupon | None,
    coupon_count: int = 0,
) -> RewardReturn:
    """What to undo for ``redemption``; 409 :class:`RewardCouponUsed` when its coupon was used.
    ``reward_count`` / ``coupon_count``: the member's counters as stored (0: none)."""
    if coupon is not None and coupon.status == "redeemed":
        raise RewardCouponUsed()
    void = coupon if coupon is not None and coupon.status == "issued" else None
    return RewardReturn(
        redemption=redemption,
        restock=reward is not None and reward.stock_tracked,
        uncount=reward_count > 0,
        void_coupon=void,
        coupon_uncount=void is not None and coupon_count > 0,
    )


def create_reward(
    request: RewardIn, repo: RewardRepository, *, template_exists: bool, actor: str, now: datetime
) -> Reward:
    if request.kind == "coupon" and not template_exists:
        raise TemplateNotFound()
    reward = Reward(
        **request.model_dump(exclude={"stock"}),
        stock_tracked=request.stock is not None,
        created_at=now,
        created_by=actor,
    )
    if not repo.create(reward, request.stock):
        raise RewardExists()
    return reward


def update_reward(reward_id: str, patch: RewardPatch, repo: RewardRepository) -> Reward:
    reward = repo.get(reward_id)
    if reward is None:
        raise RewardNotFound()
    if patch.add_stock and not reward.stock_tracked:
        raise RewardUnavailable("reward_stock_unlimited", "The reward's stock is unlimited.")
    updated = reward.model_copy(update=patch.model_dump(exclude_unset=True, exclude={"add_stock"}))
    repo.update(updated, patch.add_stock or 0)
    return updated


def retire_reward(reward_id: str, repo: RewardRepository) -> Reward:
    reward = repo.get(reward_id)
    if reward is None:
        raise RewardNotFound()
    updated = reward.model_copy(update={"status": "retired"})
    repo.update(updated, 0)
    return updated


def catalogue(
    repo: RewardRepository, now: datetime, *, include_unavailable: bool = False
) -> list[dict[str, Any]]:
    """Rewards with their stock (``stock_left`` null: unlimited), newest catalogue order by id."""
    rewards = [r for r in repo.all_rewards() if include_unavailable or r.available_at(now)]
    stock = repo.stock([r.reward_id for r in rewards if r.stock_tracked])
    out = []
    for r in rewards:
        left = stock.get(r.reward_id, 0) if r.stock_tracked else None
        out.append(
            {
                "reward_id": r.reward_id,
                "name": r.name,
                "description": r.description,
                "kind": r.kind,
                "points_cost": r.points_cost,
                "stock_left": left,
                "in_stock": left is None or left > 0,
                "per_member_limit": r.per_member_limit,
                "valid_from": r.valid_from,
                "valid_until": r.valid_until,
                "status": r.status,
            }
        )
    return out


_FAILURES: dict[RedeemFailure, type[Exception]] = {
    RedeemFailure.OUT_OF_STOCK: RewardOutOfStock,
    RedeemFailure.LIMIT_REACHED: RewardLimitReached,
    RedeemFailure.COUPON_BUDGET: CouponBudgetExhausted,
    RedeemFailure.COUPON_LIMIT: CouponLimitReached,
    RedeemFailure.COUPON_TEMPLATE: TemplateNotIssuable,
    RedeemFailure.MEMBER_ERASED: MemberErasedError,
}


def redeem_reward(
    request: RedemptionRequest, member_id: str, repo: RewardRepository, *, now: datetime, correlation_id: str
) -> RedeemResult:
    """Redeem once per (member, request id). 404 unknown reward, 409 unavailable / out of stock /
    limit reached / insufficient points (the ledger's error); a repeat returns the first result."""
    previous = repo.get_redemption(member_id, request.request_id)
    if previous is not None:
        if previous.reward_id != request.reward_id:
            raise RequestReplayConflict()
        return RedeemResult(previous, replayed=True)
    reward = repo.get(request.reward_id)
    if reward is None:
        raise RewardNotFound()
    if not reward.available_at(now):
        raise RewardUnavailable()
    result = repo.redeem(reward, member_id, request.request_id, now=now, correlation_id=correlation_id)
    if result.failure is not None:
        raise _FAILURES[result.failure]()
    if result.replayed and result.redemption is not None and result.redemption.reward_id != request.reward_id:
        raise RequestReplayConflict()
    return result
