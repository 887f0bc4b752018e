"""Coupons in LoyaltyTable (the only boto3 user for them).

| item | pk | sk |
|---|---|---|
| template | ``COUPON_TEMPLATES`` | ``TEMPLATE#<template_id>`` |
| budget shard | ``COUPON_BUDGET#<template_id>#<n>`` | ``BUDGET`` (``remaining_count``, ``remaining_cents``) |
| coupon | ``WALLET#<member_id>`` | ``COUPON#<coupon_id>`` |
| per-member counter | ``WALLET#<member_id>`` | ``LIMIT#<template_id>`` (``issued``) |
| code pointer | ``COUPON_CODE#<code>`` | ``CODE`` (``member_id``, ``coupon_id``) |
| expiry index | ``COUPON_EXPIRY#<local date of valid_until>#<0..3>`` | ``<coupon_id>`` |
| issue answer | ``OFFER_REQUEST#<request_id>`` | ``OFFER_REQUEST`` (ttl 90 days) |
| audit entry | ``AUDIT#<subject>`` | ``<at>#<entry_id>`` (see dal/wallet_common.py) |
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from services.loyalty.dal.keys import (
    code_key,
    coupon_key,
    dt,
    expiry_key,
    expiry_pk,
    iso,
    tombstone_key,
    wallet_pk,
)
from services.loyalty.dal.wallet_common import audit_put, outbox_put
from services.loyalty.dal.wallet_items import coupon_from_item, coupon_item
from services.loyalty.logic.coupons import (
    IssueAnswer,
    IssueContext,
    IssueOutcome,
)
from services.loyalty.models.coupons import Coupon, CouponTemplate
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)
from shared.events.contracts import CouponIssued, EventData

NOT_EXISTS = "attribute_not_exists(pk)"
TEMPLATES_PK = "COUPON_TEMPLATES"
ANSWER_TTL = timedelta(days=90)


def template_key(template_id: str) -> dict[str, str]:
    return {"pk": TEMPLATES_PK, "sk": f"TEMPLATE#{template_id}"}


def shard_key(template_id: str, shard: int) -> dict[str, str]:
    return {"pk": f"COUPON_BUDGET#{template_id}#{shard}", "sk": "BUDGET"}


def answer_key(request_id: str) -> dict[str, str]:
    return {"pk": f"OFFER_REQUEST#{request_id}", "sk": "OFFER_REQUEST"}


# --- mapping ---------------------------------------------------------------------------------------

_TEMPLATE_TIMES = ("valid_from", "valid_until", "created_at")


def template_item(t: CouponTemplate) -> dict[str, Any]:
    data = t.model_dump(exclude=set(_TEMPLATE_TIMES))
    data["store_ids"] = list(t.store_ids)
    data["tenant_ids"] = list(t.tenant_ids)
    return {
        **template_key(t.template_id),
        "entity": "coupon_template",
        **data,
        **{k: iso(getattr(t, k)) for k in _TEMPLATE_TIMES},
    }


def template_from_item(item: dict[str, Any]) -> CouponTemplate:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity")}
    for k in _TEMPLATE_TIMES:
        data[k] = dt(item.get(k))
    data["store_ids"] = tuple(item.get("store_ids") or ())
    data["tenant_ids"] = tuple(item.get("tenant_ids") or ())
    return CouponTemplate.model_validate(data)


def _answer_item(request_id: str, answer: IssueAnswer, now: datetime) -> dict[str, Any]:
    return {
        **answer_key(request_id),
        "entity": "offer_request",
        "issued": answer.issued,
        "coupon_id": answer.coupon_id,
        "template_id": answer.template_id,
        "valid_from": iso(answer.valid_from),
        "valid_until": iso(answer.valid_until),
        "reason": answer.reason,
        "ttl": clock.epoch_seconds(now + ANSWER_TTL),
    }


def _answer_from_item(item: dict[str, Any]) -> IssueAnswer:
    return IssueAnswer(
        issued=bool(item["issued"]),
        coupon_id=item.get("coupon_id"),
        template_id=item.get("template_id"),
        valid_from=dt(item.get("valid_from")),
        valid_until=dt(item.get("valid_until")),
        reason=item.get("reason"),
    )


def update_op(
    key: dict[str, str],
    expression: str,
    values: dict[str, Any],
    *,
    condition: str | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    update: dict[str, Any] = {
        "Key": to_item(key),
        "UpdateExpression": expression,
        "ExpressionAttributeValues": to_item(values),
    }
    if condition:
        update["ConditionExpression"] = condition
    if names:
        update["ExpressionAttributeNames"] = names
    return update


def shard_decrement(table: str, template: CouponTemplate, shard: int) -> dict[str, Any]:
    """Take one coupon's worth from a budget shard, only if the shard still holds it."""
    parts, conditions, values = [], [], {}
    if template.total_limit is not None:
        parts.append("remaining_count :minus_one")
        conditions.append("remaining_count >= :one")
        values.update({":minus_one": -1, ":one": 1})
    if template.budget_cents is not None:
        parts.append("remaining_cents :minus_cost")
        conditions.append("remaining_cents >= :cost")
        values.update({":minus_cost": -template.unit_cost_cents, ":cost": template.unit_cost_cents})
    return {
        "Update": {
            "TableName": table,
            **update_op(
                shard_key(template.template_id, shard),
                "ADD " + ", ".join(parts),
                values,
                condition=" AND ".join(conditions),
            ),
        }
    }


def issue_failure(where: dict[str, int], failed: Sequence[int], offset: int = 0) -> IssueOutcome:
    """Which condition of an issue failed (indexes relative to ``offset``)."""
    failed_at = {i - offset for i in failed}
    for name, outcome in (
        ("request", IssueOutcome.REQUEST_EXISTS),
        ("erased", IssueOutcome.MEMBER_ERASED),
        ("limit", IssueOutcome.LIMIT_REACHED),
        ("shard", IssueOutcome.SHARD_EMPTY),
    ):
        if name in where and where[name] in failed_at:
            return outcome
    raise RuntimeError(f"unexpected failed items in a coupon issue: {sorted(failed_at)}")


class DynamoCouponRepository:
    """:class:`~services.loyalty.logic.coupons.CouponRepository` on DynamoDB."""

    def __init__(self, table_name: str, tz: tzinfo) -> None:
        self.table = table_name
        self.tz = tz

    # templates
    def get_template(self, template_id: str) -> CouponTemplate | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(template_key(template_id)), ConsistentRead=True)
            .get("Item")
        )
        return template_from_item(from_item(item)) if item else None

    def create_template(
        self, template: CouponTemplate, counts: Sequence[int | None], cents: Sequence[int | None]
    ) -> bool:
        ops = [
            put_op(self.table, template_item(template), condition=NOT_EXISTS),
            audit_put(
                self.table,
                subject=f"COUPON_TEMPLATE#{template.template_id}",
                action="coupon_template_created",
                actor=template.created_by,
                at=template.created_at,
                details={"budget_cents": template.budget_cents, "total_limit": template.total_limit},
            ),
        ]
        for shard, (count, money) in enumerate(zip(counts, cents, strict=True)):
            ops.append(
                put_op(
                    self.table,
                    {
                        **shard_key(template.template_id, shard),
                        "entity": "coupon_budget",
                        "remaining_count": count,
                        "remaining_cents": money,
                    },
                    condition=NOT_EXISTS,
                )
            )
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return False
        return True

    def list_templates(self) -> list[CouponTemplate]:
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :t)",
            "ExpressionAttributeValues": to_item({":pk": TEMPLATES_PK, ":t": "TEMPLATE#"}),
        }
        return [template_from_item(i) for i in query_all(request)]

    def update_template(
        self, template: CouponTemplate, add_counts: Sequence[int], add_cents: Sequence[int], *, actor: str
    ) -> None:
        ops: list[dict[str, Any]] = [
            put_op(self.table, template_item(template), condition="attribute_exists(pk)"),
            audit_put(
                self.table,
                subject=f"COUPON_TEMPLATE#{template.template_id}",
                action="coupon_template_updated",
                actor=actor,
                at=clock.now(),
                details={
                    "status": template.status,
                    "budget_cents": template.budget_cents,
                    "total_limit": template.total_limit,
                },
            ),
        ]
        for shard in range(template.budget_shards):
            count = add_counts[shard] if add_counts else 0
            money = add_cents[shard] if add_cents else 0
            if not count and not money:
                continue
            parts, values = [], {}
            if count:
                parts.append("remaining_count :c")
                values[":c"] = count
            if money:
                parts.append("remaining_cents :m")
                values[":m"] = money
            ops.append(
                {
                    "Update": {
                        "TableName": self.table,
                        **update_op(
                            shard_key(template.template_id, shard), "ADD " + ", ".join(parts), values
                        ),
                    }
                }
            )
        transact_write(ops)

    def remaining(self, template: CouponTemplate) -> tuple[int | None, int | None]:
        if not template.budget_shards:
            return None, None
        keys = [to_item(shard_key(template.template_id, s)) for s in range(template.budget_shards)]
        count = cents = 0
        for start in range(0, len(keys), 100):
            response = client("dynamodb").batch_get_item(
                RequestItems={self.table: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            )
            for raw in response.get("Responses", {}).get(self.table, []):
                item = from_item(raw)
                count += int(item.get("remaining_count") or 0)
                cents += int(item.get("remaining_cents") or 0)
        return (
            count if template.total_limit is not None else None,
            cents if template.budget_cents is not None else None,
        )

    # issuing
    def issue_ops(
        self,
        coupon: Coupon,
        template: CouponTemplate,
        answer: IssueAnswer,
        context: IssueContext,
        event: CouponIssued,
        *,
        unless_erased: str | None,
        with_outbox: bool = True,
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The TransactWriteItems elements of an issue, and where the conditional ones sit
        (``request``, ``limit``, ``shard``, ``erased``) so a failure can be explained. Without
        ``with_outbox`` the caller publishes ``event`` itself (e.g. with the ledger's events)."""
        now = coupon.issued_at
        ops: list[dict[str, Any]] = [
            put_op(self.table, _answer_item(context.request_id, answer, now), condition=NOT_EXISTS),
            put_op(self.table, coupon_item(coupon), condition=NOT_EXISTS),
            put_op(
                self.table,
                {
                    **code_key(coupon.code),
                    "entity": "coupon_code",
                    "member_id": coupon.member_id,
                    "coupon_id": coupon.coupon_id,
                },
                condition=NOT_EXISTS,
            ),
            put_op(
                self.table,
                {
                    **expiry_key(coupon, self.tz),
                    "entity": "coupon_expiry",
                    "member_id": coupon.member_id,
                    "template_id": coupon.template_id,
                    "valid_until": iso(coupon.valid_until),
                },
            ),
        ]
        if with_outbox:
            ops.append(outbox_put(self.table, event, context.correlation_id, context.producer, now))
        if context.actor is not None:
            ops.append(
                audit_put(
                    self.table,
                    subject=f"COUPON#{coupon.coupon_id}",
                    action="coupon_issued",
                    actor=context.actor,
                    at=now,
                    details={"template_id": coupon.template_id},
                )
            )
        where = {"request": 0}
        if template.per_member_limit is not None:
            where["limit"] = len(ops)
            ops.append(
                {
                    "Update": {
                        "TableName": self.table,
                        **update_op(
                            {"pk": wallet_pk(coupon.member_id), "sk": f"LIMIT#{template.template_id}"},
                            "ADD issued :one SET entity = :e",
                            {":one": 1, ":limit": template.per_member_limit, ":e": "coupon_limit"},
                            condition="attribute_not_exists(issued) OR issued < :limit",
                        ),
                    }
                }
            )
        if coupon.budget_shard is not None:
            where["shard"] = len(ops)
            ops.append(shard_decrement(self.table, template, coupon.budget_shard))
        if unless_erased is not None:
            where["erased"] = len(ops)
            ops.append(
                {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": to_item(tombstone_key(unless_erased)),
                        "ConditionExpression": NOT_EXISTS,
                    }
                }
            )
        return ops, where

    def issue(
        self,
        coupon: Coupon,
        template: CouponTemplate,
        answer: IssueAnswer,
        context: IssueContext,
        event: CouponIssued,
        *,
        unless_erased: str | None,
    ) -> IssueOutcome:
        ops, where = self.issue_ops(coupon, template, answer, context, event, unless_erased=unless_erased)
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            return issue_failure(where, failed.failed_indexes)
        return IssueOutcome.CREATED

    def get_answer(self, request_id: str) -> IssueAnswer | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(answer_key(request_id)), ConsistentRead=True)
            .get("Item")
        )
        return _answer_from_item(from_item(item)) if item else None

    def put_answer(self, request_id: str, answer: IssueAnswer) -> IssueAnswer:
        try:
            client("dynamodb").put_item(
                TableName=self.table,
                Item=to_item(_answer_item(request_id, answer, clock.now())),
                ConditionExpression=NOT_EXISTS,
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise
            stored = self.get_answer(request_id)
            if stored is not None:
                return stored
        return answer

    # wallet and redemption
    def by_code(self, code: str) -> Coupon | None:
        ddb = client("dynamodb")
        pointer = ddb.get_item(TableName=self.table, Key=to_item(code_key(code)), ConsistentRead=True).get(
            "Item"
        )
        if not pointer:
            return None
        ref = from_item(pointer)
        return self.get_coupon(str(ref["member_id"]), str(ref["coupon_id"]))

    def get_coupon(self, member_id: str, coupon_id: str) -> Coupon | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table, Key=to_item(coupon_key(member_id, coupon_id)), ConsistentRead=True
            )
            .get("Item")
        )
        return coupon_from_item(from_item(item)) if item else None

    def wallet(self, member_id: str) -> list[Coupon]:
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :c)",
            "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id), ":c": "COUPON#"}),
            "ScanIndexForward": False,
        }
        return [coupon_from_item(i) for i in query_all(request)]

    def wallet_page(
        self, member_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[Coupon], str | None]:
        """One page of the wallet, newest first (coupon ids are ULIDs); ``after`` is the last coupon
        id of the previous page; the cursor is None on the last page."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :c)",
            "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id), ":c": "COUPON#"}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            kwargs["ExclusiveStartKey"] = to_item(coupon_key(member_id, after))
        page = client("dynamodb").query(**kwargs)
        coupons = [coupon_from_item(from_item(raw)) for raw in page.get("Items", [])]
        cursor = coupons[-1].coupon_id if "LastEvaluatedKey" in page and coupons else None
        return coupons, cursor

    def redeem(
        self,
        coupon: Coupon,
        *,
        store_id: str,
        discount_cents: int,
        at: datetime,
        actor: str,
        event: EventData,
        correlation_id: str,
        request_id: str | None = None,
    ) -> bool:
        ops = [
            {
                "Update": {
                    "TableName": self.table,
                    **update_op(
                        coupon_key(coupon.member_id, coupon.coupon_id),
                        "SET #s = :redeemed, redeemed_at = :at, redeemed_store_id = :store, "
                        "discount_cents = :d, redeemed_by = :actor, redeem_request_id = :req",
                        {
                            ":redeemed": "redeemed",
                            ":issued": "issued",
                            ":at": iso(at),
                            ":store": store_id,
                            ":d": discount_cents,
                            ":actor": actor,
                            ":req": request_id or "-",
                        },
                        condition="#s = :issued",
                        names={"#s": "status"},
                    ),
                }
            },
            {"Delete": {"TableName": self.table, "Key": to_item(expiry_key(coupon, self.tz))}},
            audit_put(
                self.table,
                subject=f"COUPON#{coupon.coupon_id}",
                action="coupon_redeemed",
                actor=actor,
                at=at,
                details={"store_id": store_id, "discount_cents": discount_cents},
            ),
            outbox_put(self.table, event, correlation_id, "loyalty.api", at),
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            if 0 in failed.failed_indexes:
                return False
            raise
        return True

    # expiry job
    def expiring_on(self, day: str, shards: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for shard in range(shards):
            request = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": to_item({":pk": expiry_pk(day, shard)}),
            }
            out.extend(query_all(request))
        return out

    def mark_reminded(
        self, entry: dict[str, Any], event: EventData, correlation_id: str, at: datetime
    ) -> bool:
        """Flag the index entry and write CouponExpiring, once (a rerun of the job skips it)."""
        ops = [
            {
                "Update": {
                    "TableName": self.table,
                    **update_op(
                        {"pk": entry["pk"], "sk": entry["sk"]},
                        "SET reminded_at = :at",
                        {":at": iso(at)},
                        condition="attribute_exists(pk) AND attribute_not_exists(reminded_at)",
                    ),
                }
            },
            outbox_put(self.table, event, correlation_id, "loyalty.coupon-expiry", at),
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return False
        return True

    def expire(self, entry: dict[str, Any], at: datetime) -> bool:
        """The coupon's status becomes expired (if still issued) and its index entry goes."""
        ops = [
            {
                "Update": {
                    "TableName": self.table,
                    **update_op(
                        coupon_key(str(entry["member_id"]), str(entry["sk"])),
                        "SET #s = :expired, expired_at = :at",
                        {":expired": "expired", ":issued": "issued", ":at": iso(at)},
                        condition="#s = :issued",
                        names={"#s": "status"},
                    ),
                }
            },
            {"Delete": {"TableName": self.table, "Key": to_item({"pk": entry["pk"], "sk": entry["sk"]})}},
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            # Redeemed, revoked or erased meanwhile: the entry is stale, drop it alone.
            client("dynamodb").delete_item(
                TableName=self.table, Key=to_item({"pk": entry["pk"], "sk": entry["sk"]})
            )
            return False
        return True
