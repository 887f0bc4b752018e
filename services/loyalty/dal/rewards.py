"""Rewards in LoyaltyTable (the only boto3 user for them).

| item | pk | sk |
|---|---|---|
| reward | ``REWARDS`` | ``REWARD#<reward_id>`` |
| stock | ``REWARD_STOCK#<reward_id>`` | ``STOCK`` (``available``) |
| member's counter | ``WALLET#<member_id>`` | ``RLIMIT#<reward_id>`` (``redeemed``) |
| redemption | ``WALLET#<member_id>`` | ``REDEMPTION#<request_id>`` |

A redemption is one transaction: these items first (``extra``), then L1's ledger change (balance,
lots, movement) and the outbox (RewardRedeemed, PointsRedeemed, and CouponIssued for a coupon).

Its return (staff reverse its ``redeem`` movement, logic/rewards.py ``plan_return``) is found by a
Query of the member's ``REDEMPTION#`` items filtered on ``movement_id`` (a member holds few), and
written by :meth:`DynamoRewardRepository.return_ops` inside the reversal's transaction: the record's
``returned_at`` (once), the stock ``ADD 1``, the counter ``ADD -1``, the unused coupon ``revoked``
(condition: still ``issued``) with its expiry-index entry deleted, its budget shard and the
member's per-template counter given their one back, and audit items.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.loyalty.dal.coupons import DynamoCouponRepository, issue_failure, shard_key, update_op
from services.loyalty.dal.keys import coupon_key, dt, expiry_key, iso, redemption_key, wallet_pk
from services.loyalty.dal.record_items import redemption_from_item, redemption_item
from services.loyalty.dal.wallet_common import audit_put
from services.loyalty.dal.wallet_points import LedgerPoints
from services.loyalty.logic import ledger as L
from services.loyalty.logic.coupons import IssueContext, IssueOutcome, coupon_for_member, new_code, validity
from services.loyalty.logic.rewards import RedeemFailure, RedeemResult, RewardReturn, plan_return
from services.loyalty.models.coupons import CouponTemplate
from services.loyalty.models.rewards import Redemption, Reward
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, query_all, to_item, transact_write
from shared.events.contracts import CouponIssued, EventData, PointsRedeemed, RewardRedeemed
from shared.ids import new_ulid

NOT_EXISTS = "attribute_not_exists(pk)"
REWARDS_PK = "REWARDS"
_TIMES = ("valid_from", "valid_until", "created_at")


def reward_key(reward_id: str) -> dict[str, str]:
    return {"pk": REWARDS_PK, "sk": f"REWARD#{reward_id}"}


def stock_key(reward_id: str) -> dict[str, str]:
    return {"pk": f"REWARD_STOCK#{reward_id}", "sk": "STOCK"}


def reward_item(r: Reward) -> dict[str, Any]:
    return {
        **reward_key(r.reward_id),
        "entity": "reward",
        **r.model_dump(exclude=set(_TIMES)),
        **{k: iso(getattr(r, k)) for k in _TIMES},
    }


def reward_from_item(item: Mapping[str, Any]) -> Reward:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity")}
    for k in _TIMES:
        data[k] = dt(item.get(k))
    return Reward.model_validate(data)


class DynamoRewardRepository:
    """:class:`~services.loyalty.logic.rewards.RewardRepository` on DynamoDB."""

    def __init__(
        self,
        table_name: str,
        points: LedgerPoints | None = None,
        coupons: DynamoCouponRepository | None = None,
    ) -> None:
        self.table = table_name
        self.points = points
        self.coupons = coupons

    def create(self, reward: Reward, stock: int | None) -> bool:
        ops = [put_op(self.table, reward_item(reward), condition=NOT_EXISTS)]
        if stock is not None:
            ops.append(
                put_op(
                    self.table, {**stock_key(reward.reward_id), "entity": "reward_stock", "available": stock}
                )
            )
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return False
        return True

    def get(self, reward_id: str) -> Reward | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(reward_key(reward_id)), ConsistentRead=True)
            .get("Item")
        )
        return reward_from_item(from_item(item)) if item else None

    def all_rewards(self) -> list[Reward]:
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
            "ExpressionAttributeValues": to_item({":pk": REWARDS_PK, ":r": "REWARD#"}),
        }
        return [reward_from_item(i) for i in query_all(request)]

    def stock(self, reward_ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(reward_ids), 100):
            keys = [to_item(stock_key(r)) for r in reward_ids[start : start + 100]]
            response = client("dynamodb").batch_get_item(RequestItems={self.table: {"Keys": keys}})
            for raw in response.get("Responses", {}).get(self.table, []):
                item = from_item(raw)
                out[str(item["pk"]).removeprefix("REWARD_STOCK#")] = int(item.get("available") or 0)
        return out

    def list_for_offers(self, now: datetime) -> list[dict[str, Any]]:
        """Contract A's ``list_rewards``: the rewards a member can redeem now."""
        from services.loyalty.logic.rewards import catalogue  # noqa: PLC0415 - avoids an import cycle

        return [
            {
                "reward_id": r["reward_id"],
                "name": r["name"],
                "points_cost": r["points_cost"],
                "in_stock": r["in_stock"],
            }
            for r in catalogue(self, now)
        ]

    def update(self, reward: Reward, add_stock: int) -> None:
        ops: list[dict[str, Any]] = [
            put_op(self.table, reward_item(reward), condition="attribute_exists(pk)")
        ]
        if add_stock:
            ops.append(
                {
                    "Update": {
                        "TableName": self.table,
                        **update_op(stock_key(reward.reward_id), "ADD available :n", {":n": add_stock}),
                    }
                }
            )
        transact_write(ops)

    def get_redemption(self, member_id: str, request_id: str) -> Redemption | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table, Key=to_item(redemption_key(member_id, request_id)), ConsistentRead=True
            )
            .get("Item")
        )
        return redemption_from_item(from_item(item)) if item else None

    def redemptions(self, member_id: str) -> list[Redemption]:
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
            "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id), ":r": "REDEMPTION#"}),
        }
        return [redemption_from_item(i) for i in query_all(request)]

    def redemption_by_movement(self, member_id: str, movement_id: str) -> Redemption | None:
        """The member's redemption whose points ``movement_id`` spent (Query of the member's
        ``REDEMPTION#`` items, filtered on the movement)."""
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
            "FilterExpression": "movement_id = :m",
            "ExpressionAttributeValues": to_item(
                {":pk": wallet_pk(member_id), ":r": "REDEMPTION#", ":m": movement_id}
            ),
            "ConsistentRead": True,
        }
        for item in query_all(request):
            return redemption_from_item(item)
        return None

    def _count(self, member_id: str, sk: str, attribute: str) -> int:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table, Key=to_item({"pk": wallet_pk(member_id), "sk": sk}), ConsistentRead=True
            )
            .get("Item")
        )
        return int(from_item(item).get(attribute) or 0) if item else 0

    def reward_return(self, member_id: str, movement: L.Movement) -> RewardReturn | None:
        """What reversing ``movement`` undoes besides the points: None when it is no reward's
        redemption (a parking offset gives the points back only). Raises 409
        :class:`~services.loyalty.logic.wallet_errors.RewardCouponUsed`."""
        if movement.kind != "redeem" or movement.source.kind != "reward":
            return None
        redemption = self.redemption_by_movement(member_id, movement.movement_id)
        if redemption is None:
            return None
        coupon = None
        coupon_count = 0
        if redemption.coupon_id is not None:
            if self.coupons is None:
                raise RuntimeError("returning a coupon reward needs the coupons")
            coupon = self.coupons.get_coupon(member_id, redemption.coupon_id)
            if coupon is not None:
                coupon_count = self._count(member_id, f"LIMIT#{coupon.template_id}", "issued")
        return plan_return(
            redemption,
            reward=self.get(redemption.reward_id),
            reward_count=self._count(member_id, f"RLIMIT#{redemption.reward_id}", "redeemed"),
            coupon=coupon,
            coupon_count=coupon_count,
        )

    def return_ops(
        self, plan: RewardReturn, *, movement_id: str, actor: str, now: datetime
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The TransactWriteItems elements returning ``plan``'s redemption (``movement_id``: the
        reversal's), and where the conditional ones sit (``redemption``: not returned yet;
        ``coupon``: still unused). The counters were read above zero and the reversal's ledger
        marker lets one return through, so they are decremented without a condition."""
        r = plan.redemption
        member_pk = wallet_pk(r.member_id)
        ops: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    **update_op(
                        redemption_key(r.member_id, r.request_id),
                        "SET returned_at = :at, return_movement_id = :m",
                        {":at": iso(now), ":m": movement_id},
                        condition="attribute_exists(pk) AND attribute_not_exists(returned_at)",
                    ),
                }
            }
        ]
        where = {"redemption": 0}
        if plan.restock:
            ops.append(
                {
                    "Update": {
                        "TableName": self.table,
                        **update_op(stock_key(r.reward_id), "ADD available :one", {":one": 1}),
                    }
                }
            )
        if plan.uncount:
            ops.append(
                {
                    "Update": {
                        "TableName": self.table,
                        **update_op(
                            {"pk": member_pk, "sk": f"RLIMIT#{r.reward_id}"},
                            "ADD redeemed :minus_one",
                            {":minus_one": -1},
                        ),
                    }
                }
            )
        coupon = plan.void_coupon
        if coupon is not None:
            assert self.coupons is not None
            where["coupon"] = len(ops)
            ops += [
                {
                    "Update": {
                        "TableName": self.table,
                        **update_op(
                            coupon_key(coupon.member_id, coupon.coupon_id),
                            "SET #s = :revoked, revoked_at = :at, revoked_reason = :why",
                            {
                                ":revoked": "revoked",
                                ":issued": "issued",
                                ":at": iso(now),
                                ":why": "reward_returned",
                            },
                            condition="#s = :issued",
                            names={"#s": "status"},
                        ),
                    }
                },
                {"Delete": {"TableName": self.table, "Key": to_item(expiry_key(coupon, self.coupons.tz))}},
                audit_put(
                    self.table,
                    subject=f"COUPON#{coupon.coupon_id}",
                    action="coupon_revoked",
                    actor=actor,
                    at=now,
                    details={"reason": "reward_returned", "redemption_id": r.redemption_id},
                ),
            ]
            if plan.coupon_uncount:
                ops.append(
                    {
                        "Update": {
                            "TableName": self.table,
                            **update_op(
                                {"pk": member_pk, "sk": f"LIMIT#{coupon.template_id}"},
                                "ADD issued :minus_one",
                                {":minus_one": -1},
                            ),
                        }
                    }
                )
            template = self.coupons.get_template(coupon.template_id)
            if coupon.budget_shard is not None and template is not None and template.counted:
                parts, values = [], {}
                if template.total_limit is not None:
                    parts.append("remaining_count :one")
                    values[":one"] = 1
                if template.budget_cents is not None:
                    parts.append("remaining_cents :cost")
                    values[":cost"] = template.unit_cost_cents
                ops.append(
                    {
                        "Update": {
                            "TableName": self.table,
                            **update_op(
                                shard_key(template.template_id, coupon.budget_shard),
                                "ADD " + ", ".join(parts),
                                values,
                            ),
                        }
                    }
                )
        ops.append(
            audit_put(
                self.table,
                subject=f"REDEMPTION#{r.redemption_id}",
                action="reward_returned",
                actor=actor,
                at=now,
                details={
                    "reward_id": r.reward_id,
                    "movement_id": movement_id,
                    "restocked": plan.restock,
                    "coupon_revoked": coupon.coupon_id if coupon is not None else None,
                },
            )
        )
        return ops, where

    def redeem(
        self, reward: Reward, member_id: str, request_id: str, *, now: datetime, correlation_id: str
    ) -> RedeemResult:
        if self.points is None or self.coupons is None:
            raise RuntimeError("DynamoRewardRepository.redeem needs the ledger and the coupons")
        redemption_id = new_ulid(now)
        template: CouponTemplate | None = None
        shards: list[int | None] = [None]
        if reward.kind == "coupon":
            template = self.coupons.get_template(reward.template_id or "")
            if (
                template is None
                or template.status != "active"
                or validity(template, now, self.coupons.tz) is None
            ):
                return RedeemResult(None, failure=RedeemFailure.COUPON_TEMPLATE)
            if template.budget_shards:
                order = list(range(template.budget_shards))
                random.shuffle(order)
                shards = list(order)
        for shard in shards:
            outcome = self._attempt(
                reward,
                member_id=member_id,
                request_id=request_id,
                redemption_id=redemption_id,
                template=template,
                shard=shard,
                now=now,
                correlation_id=correlation_id,
            )
            if outcome is not None:
                return outcome
        return RedeemResult(None, failure=RedeemFailure.COUPON_BUDGET)

    def _attempt(  # noqa: PLR0911 - one return per failure of the transaction
        self,
        reward: Reward,
        *,
        member_id: str,
        request_id: str,
        redemption_id: str,
        template: CouponTemplate | None,
        shard: int | None,
        now: datetime,
        correlation_id: str,
    ) -> RedeemResult | None:
        """One try (with one coupon budget shard); None when that shard was empty."""
        assert self.points is not None and self.coupons is not None
        coupon_ops: list[dict[str, Any]] = []
        where: dict[str, int] = {}
        coupon_id: str | None = None
        coupon_event: CouponIssued | None = None
        if template is not None:
            window = validity(template, now, self.coupons.tz)
            assert window is not None
            issued = coupon_for_member(
                template,
                coupon_id=new_ulid(now),
                member_id=member_id,
                reason="reward",
                campaign_id=None,
                window=window,
                now=now,
                budget_shard=shard,
            )
            coupon_id, coupon_event = issued.coupon.coupon_id, issued.event
            context = IssueContext(
                request_id=f"reward:{redemption_id}", correlation_id=correlation_id, producer="loyalty.api"
            )
            # CouponIssued goes out with the ledger's events (below), not as a second outbox item.
            coupon_ops, where = self.coupons.issue_ops(
                issued.coupon,
                template,
                issued.answer,
                context,
                issued.event,
                unless_erased=None,
                with_outbox=False,
            )

        stock_at = limit_at = -1
        base: list[dict[str, Any]] = []

        def extra(change: L.LedgerChange) -> Sequence[Mapping[str, Any]]:
            nonlocal stock_at, limit_at
            record = Redemption(
                redemption_id=redemption_id,
                request_id=request_id,
                member_id=member_id,
                reward_id=reward.reward_id,
                reward_name=reward.name,
                kind=reward.kind,
                points=reward.points_cost,
                movement_id=change.movement.movement_id,
                balance_after=change.movement.balance_after,
                coupon_id=coupon_id,
                pickup_code=new_code() if reward.kind == "gift" else None,
                redeemed_at=now,
            )
            ops: list[dict[str, Any]] = [put_op(self.table, redemption_item(record), condition=NOT_EXISTS)]
            if reward.stock_tracked:
                stock_at = len(ops)
                ops.append(
                    {
                        "Update": {
                            "TableName": self.table,
                            **update_op(
                                stock_key(reward.reward_id),
                                "ADD available :minus_one",
                                {":minus_one": -1, ":one": 1},
                                condition="available >= :one",
                            ),
                        }
                    }
                )
            if reward.per_member_limit is not None:
                limit_at = len(ops)
                ops.append(
                    {
                        "Update": {
                            "TableName": self.table,
                            **update_op(
                                {"pk": wallet_pk(member_id), "sk": f"RLIMIT#{reward.reward_id}"},
                                "ADD redeemed :one SET entity = :e",
                                {":one": 1, ":limit": reward.per_member_limit, ":e": "reward_limit"},
                                condition="attribute_not_exists(redeemed) OR redeemed < :limit",
                            ),
                        }
                    }
                )
            base[:] = ops
            return [*ops, *coupon_ops]

        def events(change: L.LedgerChange) -> Sequence[EventData]:
            out: list[EventData] = [
                RewardRedeemed(
                    redemption_id=redemption_id,
                    reward_id=reward.reward_id,
                    member_id=member_id,
                    points=reward.points_cost,
                    movement_id=change.movement.movement_id,
                    balance_after=change.movement.balance_after,
                    coupon_id=coupon_id,
                    redeemed_at=now,
                ),
                PointsRedeemed(
                    member_id=member_id,
                    movement_id=change.movement.movement_id,
                    points=reward.points_cost,
                    reason="reward",
                    reference_id=redemption_id,
                    balance_after=change.movement.balance_after,
                    redeemed_at=now,
                    balance_version=change.version_after,
                ),
            ]
            if coupon_event is not None:
                out.append(coupon_event)
            return out

        try:
            self.points.debit(
                member_id,
                reward.points_cost,
                kind="redeem",
                reason=f"reward:{reward.reward_id}",
                source=L.Source("reward", reward.reward_id),
                actor="member",
                idempotency_key=None,
                correlation_id=correlation_id,
                producer="loyalty.api",
                now=now,
                extra=extra,
                events=events,
            )
        except L.ExtraItemsFailed as failed:
            indexes = set(failed.indexes)
            if 0 in indexes:
                previous = self.get_redemption(member_id, request_id)
                return RedeemResult(previous, replayed=True)
            if stock_at in indexes:
                return RedeemResult(None, failure=RedeemFailure.OUT_OF_STOCK)
            if limit_at in indexes:
                return RedeemResult(None, failure=RedeemFailure.LIMIT_REACHED)
            outcome = issue_failure(where, sorted(indexes), offset=len(base))
            if outcome is IssueOutcome.SHARD_EMPTY:
                return None
            if outcome is IssueOutcome.LIMIT_REACHED:
                return RedeemResult(None, failure=RedeemFailure.COUPON_LIMIT)
            if outcome is IssueOutcome.MEMBER_ERASED:
                return RedeemResult(None, failure=RedeemFailure.MEMBER_ERASED)
            raise
        return RedeemResult(self.get_redemption(member_id, request_id))
