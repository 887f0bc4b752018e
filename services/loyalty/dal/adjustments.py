"""Points adjustments in LoyaltyTable (the only boto3 user for them).

| item | pk | sk |
|---|---|---|
| adjustment | ``ADJUSTMENT#<id>`` | ``ADJUSTMENT`` |
| review queue entry (pending only) | ``ADJUSTMENT_QUEUE`` | ``<requested_at>#<id>`` |
| request marker (contract D, API ``request_id``) | ``ADJUSTMENT_REQ#<key>`` | ``ADJUSTMENT_REQ`` |
| the member's pointer (erasure) | ``WALLET#<member_id>`` | ``ADJUSTMENT#<id>`` |
| audit | ``AUDIT#ADJUSTMENT#<id>`` | ``<at>#<entry_id>`` |

Approval is one transaction: the adjustment (``status = pending`` → ``applied``), the queue entry
deleted, the audit entry, then L1's ledger change and the outbox (PointsAdjusted, PointsEarned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.loyalty.dal.coupons import update_op
from services.loyalty.dal.keys import ADJUSTMENT_QUEUE_PK as QUEUE_PK
from services.loyalty.dal.keys import adjustment_key, iso, wallet_pk
from services.loyalty.dal.keys import adjustment_queue_key as queue_key
from services.loyalty.dal.wallet_common import audit_put, outbox_put
from services.loyalty.dal.wallet_items import adjustment_from_item, adjustment_item
from services.loyalty.dal.wallet_points import LedgerPoints
from services.loyalty.logic import ledger as L
from services.loyalty.models.adjustments import Adjustment
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, query_all, to_item, transact_write
from shared.events.contracts import EventData, PointsAdjusted, PointsAdjustmentRejected

NOT_EXISTS = "attribute_not_exists(pk)"


def _status_update(a: Adjustment, values: dict[str, Any], sets: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "",  # filled by the caller
            **update_op(
                adjustment_key(a.adjustment_id),
                f"SET #s = :new, {sets}",
                {":pending": "pending", **values},
                condition="#s = :pending",
                names={"#s": "status"},
            ),
        }
    }


class DynamoAdjustmentRepository:
    """:class:`~services.loyalty.logic.adjustments.AdjustmentRepository` on DynamoDB."""

    def __init__(self, table_name: str, points: LedgerPoints | None = None) -> None:
        self.table = table_name
        self.points = points

    def create(self, adjustment: Adjustment, *, request_key: str | None) -> Adjustment | None:
        ops: list[dict[str, Any]] = [
            put_op(self.table, adjustment_item(adjustment), condition=NOT_EXISTS),
            put_op(
                self.table,
                {
                    **queue_key(adjustment),
                    "entity": "adjustment_queue",
                    "adjustment_id": adjustment.adjustment_id,
                },
            ),
            put_op(
                self.table,
                {
                    "pk": wallet_pk(adjustment.member_id),
                    "sk": f"ADJUSTMENT#{adjustment.adjustment_id}",
                    "entity": "adjustment_ref",
                },
            ),
            audit_put(
                self.table,
                subject=f"ADJUSTMENT#{adjustment.adjustment_id}",
                action="points_adjustment_requested",
                actor=f"staff:{adjustment.requested_by}",
                at=adjustment.requested_at,
                details={
                    "points": adjustment.points,
                    "reason": adjustment.reason,
                    "ticket_id": adjustment.ticket_id,
                },
            ),
        ]
        if request_key is not None:
            ops.append(
                put_op(
                    self.table,
                    {
                        "pk": f"ADJUSTMENT_REQ#{request_key}",
                        "sk": "ADJUSTMENT_REQ",
                        "entity": "adjustment_request",
                        "adjustment_id": adjustment.adjustment_id,
                    },
                    condition=NOT_EXISTS,
                )
            )
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            if request_key is not None and len(ops) - 1 in failed.failed_indexes:
                marker = client("dynamodb").get_item(
                    TableName=self.table,
                    Key=to_item({"pk": f"ADJUSTMENT_REQ#{request_key}", "sk": "ADJUSTMENT_REQ"}),
                    ConsistentRead=True,
                )["Item"]
                earlier = self.get(str(from_item(marker)["adjustment_id"]))
                if earlier is not None:
                    return earlier
            raise
        return None

    def get(self, adjustment_id: str) -> Adjustment | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(adjustment_key(adjustment_id)), ConsistentRead=True)
            .get("Item")
        )
        return adjustment_from_item(from_item(item)) if item else None

    def pending(self, limit: int) -> list[Adjustment]:
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": QUEUE_PK}),
            "Limit": limit,
        }
        page = client("dynamodb").query(**request)
        out = []
        for raw in page.get("Items", []):
            found = self.get(str(from_item(raw)["adjustment_id"]))
            if found is not None:
                out.append(found)
        return out

    def apply(
        self, adjustment: Adjustment, approver: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        if self.points is None:
            raise RuntimeError("approving an adjustment needs the ledger")
        applied: dict[str, Any] = {}

        def extra(change: L.LedgerChange) -> Sequence[Mapping[str, Any]]:
            movement = change.movement
            applied.update(movement_id=movement.movement_id, balance_after=movement.balance_after)
            update = _status_update(
                adjustment,
                {
                    ":new": "applied",
                    ":by": approver,
                    ":at": iso(now),
                    ":m": movement.movement_id,
                    ":b": movement.balance_after,
                },
                "decided_by = :by, decided_at = :at, movement_id = :m, balance_after = :b",
            )
            update["Update"]["TableName"] = self.table
            return [
                update,
                {"Delete": {"TableName": self.table, "Key": to_item(queue_key(adjustment))}},
                audit_put(
                    self.table,
                    subject=f"ADJUSTMENT#{adjustment.adjustment_id}",
                    action="points_adjustment_approved",
                    actor=f"staff:{approver}",
                    at=now,
                    details={"points": adjustment.points, "movement_id": movement.movement_id},
                ),
            ]

        def events(change: L.LedgerChange) -> Sequence[EventData]:
            return [
                PointsAdjusted(
                    adjustment_id=adjustment.adjustment_id,
                    member_id=adjustment.member_id,
                    points=adjustment.points,
                    reason=adjustment.reason,
                    ticket_id=adjustment.ticket_id,
                    requested_by=adjustment.requested_by,
                    approved_by=approver,
                    movement_id=change.movement.movement_id,
                    balance_after=change.movement.balance_after,
                    adjusted_at=now,
                )
            ]

        reason = f"adjustment: {adjustment.reason}"
        source = L.Source("staff", adjustment.adjustment_id)
        key = f"adjust#{adjustment.adjustment_id}"
        try:
            if adjustment.points > 0:
                moved = self.points.credit(
                    adjustment.member_id,
                    adjustment.points,
                    kind="adjustment",
                    earn_reason="adjustment",
                    reason=reason,
                    source=source,
                    actor=f"staff:{approver}",
                    idempotency_key=key,
                    correlation_id=correlation_id,
                    producer="loyalty.api",
                    now=now,
                    extra=extra,
                    events=events,
                )
            else:
                # A correction below zero is recorded as debt, never refused nor hidden.
                moved = self.points.debit(
                    adjustment.member_id,
                    -adjustment.points,
                    kind="adjustment",
                    allow_negative=True,
                    reason=reason,
                    source=source,
                    actor=f"staff:{approver}",
                    idempotency_key=key,
                    correlation_id=correlation_id,
                    producer="loyalty.api",
                    now=now,
                    extra=extra,
                    events=events,
                )
        except L.ExtraItemsFailed:
            return None
        return adjustment.model_copy(
            update={
                "status": "applied",
                "decided_by": approver,
                "decided_at": now,
                "movement_id": moved.movement_id,
                "balance_after": moved.balance_after,
            }
        )

    def reject(
        self, adjustment: Adjustment, rejecter: str, reason: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        update = _status_update(
            adjustment,
            {":new": "rejected", ":by": rejecter, ":at": iso(now), ":why": reason},
            "decided_by = :by, decided_at = :at, rejection_reason = :why",
        )
        update["Update"]["TableName"] = self.table
        event = PointsAdjustmentRejected(
            adjustment_id=adjustment.adjustment_id,
            member_id=adjustment.member_id,
            points=adjustment.points,
            ticket_id=adjustment.ticket_id,
            requested_by=adjustment.requested_by,
            rejected_by=rejecter,
            rejection_reason=reason,
            rejected_at=now,
        )
        ops = [
            update,
            {"Delete": {"TableName": self.table, "Key": to_item(queue_key(adjustment))}},
            audit_put(
                self.table,
                subject=f"ADJUSTMENT#{adjustment.adjustment_id}",
                action="points_adjustment_rejected",
                actor=f"staff:{rejecter}",
                at=now,
                details={"reason": reason},
            ),
            outbox_put(self.table, event, correlation_id, "loyalty.api", now),
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return None
        return adjustment.model_copy(
            update={
                "status": "rejected",
                "decided_by": rejecter,
                "decided_at": now,
                "rejection_reason": reason,
            }
        )


def member_adjustments(table: str, member_id: str) -> list[str]:
    """The ids of a member's adjustments (erasure)."""
    request = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :a)",
        "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id), ":a": "ADJUSTMENT#"}),
    }
    return [str(i["sk"]).removeprefix("ADJUSTMENT#") for i in query_all(request)]
