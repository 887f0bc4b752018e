"""Receipt-photo claims in LoyaltyTable (the only boto3 user for them).

| item | pk | sk |
|---|---|---|
| claim | ``RECEIPT#<id>`` | ``RECEIPT`` |
| duplicate key (no member id; kept) | ``RECEIPT_KEY#<store>#<machine>#<receipt number>`` | ``RECEIPT_KEY`` |
| the member's pointer | ``WALLET#<member_id>`` | ``RECEIPT#<id>`` |
| review queue entry (pending only) | ``RECEIPT_QUEUE`` | ``<submitted_at>#<id>`` |
| settings | ``CONFIG#RECEIPTS`` | ``SETTINGS`` |
| audit | ``AUDIT#RECEIPT#<id>`` | ``<at>#<entry_id>`` |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from services.loyalty.dal.coupons import update_op
from services.loyalty.dal.keys import RECEIPT_QUEUE_PK as QUEUE_PK
from services.loyalty.dal.keys import claim_key, iso, wallet_pk
from services.loyalty.dal.keys import receipt_queue_key as queue_key
from services.loyalty.dal.wallet_common import audit_put
from services.loyalty.dal.wallet_items import claim_from_item, claim_item
from services.loyalty.dal.wallet_points import LedgerPoints
from services.loyalty.logic import ledger as L
from services.loyalty.models.receipts import ReceiptClaim, ReceiptSettings
from shared import clock
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, query_all, to_item, transact_write

NOT_EXISTS = "attribute_not_exists(pk)"
SETTINGS_KEY = {"pk": "CONFIG#RECEIPTS", "sk": "SETTINGS"}
_AUDITED = {":p": "points", ":amount": "amount_cents", ":why": "reason"}


def duplicate_key(claim: ReceiptClaim) -> dict[str, str]:
    return {
        "pk": f"RECEIPT_KEY#{claim.store_id}#{claim.machine_number}#{claim.receipt_number}",
        "sk": "RECEIPT_KEY",
    }


class DynamoReceiptRepository:
    """:class:`~services.loyalty.logic.receipts.ReceiptRepository` on DynamoDB."""

    def __init__(self, table_name: str, points: LedgerPoints | None = None) -> None:
        self.table = table_name
        self.points = points

    def settings(self) -> ReceiptSettings:
        item = client("dynamodb").get_item(TableName=self.table, Key=to_item(SETTINGS_KEY)).get("Item")
        if not item:
            return ReceiptSettings()
        data = from_item(item)
        return ReceiptSettings.model_validate({k: data[k] for k in ReceiptSettings.model_fields if k in data})

    def put_settings(self, settings: ReceiptSettings, actor: str) -> None:
        now = clock.now()
        transact_write(
            [
                put_op(self.table, {**SETTINGS_KEY, "entity": "receipt_settings", **settings.model_dump()}),
                audit_put(
                    self.table,
                    subject="RECEIPT_SETTINGS",
                    action="receipt_settings_changed",
                    actor=actor,
                    at=now,
                    details={"auto_approve_below_cents": settings.auto_approve_below_cents},
                ),
            ]
        )

    def _claim_ops(self, claim: ReceiptClaim) -> list[dict[str, Any]]:
        ops = [
            put_op(
                self.table,
                {**duplicate_key(claim), "entity": "receipt_key", "receipt_id": claim.receipt_id},
                condition=NOT_EXISTS,
            ),
            put_op(self.table, claim_item(claim), condition=NOT_EXISTS),
            put_op(
                self.table,
                {
                    "pk": wallet_pk(claim.member_id),
                    "sk": f"RECEIPT#{claim.receipt_id}",
                    "entity": "receipt_ref",
                },
            ),
        ]
        if claim.status == "pending":
            ops.append(
                put_op(
                    self.table,
                    {**queue_key(claim), "entity": "receipt_queue", "receipt_id": claim.receipt_id},
                )
            )
        return ops

    def _credit(
        self,
        claim: ReceiptClaim,
        points: int,
        *,
        actor: str,
        now: datetime,
        correlation_id: str,
        build: Callable[[str], Sequence[Mapping[str, Any]]],
    ) -> str:
        """Credit ``points`` with the items ``build(movement_id)`` returns, in one transaction."""
        if self.points is None:
            raise RuntimeError("crediting a receipt needs the ledger")
        moved = self.points.credit(
            claim.member_id,
            points,
            kind="earn",
            earn_reason="receipt_claim",
            reason=f"receipt {claim.store_id}/{claim.machine_number}/{claim.receipt_number}",
            source=L.Source("receipt", claim.receipt_id),
            actor=actor,
            idempotency_key=f"receipt#{claim.receipt_id}",
            correlation_id=correlation_id,
            producer="loyalty.api",
            now=now,
            extra=lambda change: build(change.movement.movement_id),
        )
        return moved.movement_id

    def submit(self, claim: ReceiptClaim, *, points: int, correlation_id: str) -> ReceiptClaim | None:
        try:
            if claim.status == "approved" and points > 0:
                movement_id = self._credit(
                    claim,
                    points,
                    actor="system",
                    now=claim.submitted_at,
                    correlation_id=correlation_id,
                    build=lambda m: self._claim_ops(claim.model_copy(update={"movement_id": m})),
                )
                return claim.model_copy(update={"movement_id": movement_id})
            transact_write(self._claim_ops(claim))
        except (ConditionalCheckFailed, L.ExtraItemsFailed):
            # The receipt key (first item) exists: claimed before.
            return None
        return claim

    def get(self, receipt_id: str) -> ReceiptClaim | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(claim_key(receipt_id)), ConsistentRead=True)
            .get("Item")
        )
        return claim_from_item(from_item(item)) if item else None

    def pending(self, limit: int) -> list[ReceiptClaim]:
        page = client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": QUEUE_PK}),
            Limit=limit,
        )
        found = [self.get(str(from_item(raw)["receipt_id"])) for raw in page.get("Items", [])]
        return [c for c in found if c is not None]

    def of_member(self, member_id: str) -> list[ReceiptClaim]:
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
            "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id), ":r": "RECEIPT#"}),
            "ScanIndexForward": False,
        }
        found = [self.get(str(i["sk"]).removeprefix("RECEIPT#")) for i in query_all(request)]
        return [c for c in found if c is not None]

    def _decision_ops(
        self,
        claim: ReceiptClaim,
        sets: str,
        values: dict[str, Any],
        *,
        action: str,
        actor: str,
        now: datetime,
    ) -> list[dict[str, Any]]:
        return [
            {
                "Update": {
                    "TableName": self.table,
                    **update_op(
                        claim_key(claim.receipt_id),
                        f"SET #s = :new, {sets}",
                        {":pending": "pending", **values},
                        condition="#s = :pending",
                        names={"#s": "status"},
                    ),
                }
            },
            {"Delete": {"TableName": self.table, "Key": to_item(queue_key(claim))}},
            audit_put(
                self.table,
                subject=f"RECEIPT#{claim.receipt_id}",
                action=action,
                actor=actor,
                at=now,
                details={name: values[k] for k, name in _AUDITED.items() if k in values},
            ),
        ]

    def approve(
        self,
        claim: ReceiptClaim,
        *,
        points: int,
        amount_cents: int,
        actor: str,
        now: datetime,
        correlation_id: str,
    ) -> ReceiptClaim | None:
        def ops(movement_id: str | None) -> list[dict[str, Any]]:
            return self._decision_ops(
                claim,
                "decided_by = :by, decided_at = :at, points = :p, amount_cents = :amount, movement_id = :m",
                {
                    ":new": "approved",
                    ":by": actor,
                    ":at": iso(now),
                    ":p": points,
                    ":amount": amount_cents,
                    ":m": movement_id or "-",
                },
                action="receipt_approved",
                actor=actor,
                now=now,
            )

        movement_id = None
        try:
            if points > 0:
                movement_id = self._credit(
                    claim, points, actor=actor, now=now, correlation_id=correlation_id, build=ops
                )
            else:
                transact_write(ops(None))
        except (ConditionalCheckFailed, L.ExtraItemsFailed):
            return None
        return claim.model_copy(
            update={
                "status": "approved",
                "decided_by": actor,
                "decided_at": now,
                "points": points,
                "amount_cents": amount_cents,
                "movement_id": movement_id,
            }
        )

    def reject(self, claim: ReceiptClaim, *, reason: str, actor: str, now: datetime) -> ReceiptClaim | None:
        ops = self._decision_ops(
            claim,
            "decided_by = :by, decided_at = :at, rejection_reason = :why",
            {":new": "rejected", ":by": actor, ":at": iso(now), ":why": reason},
            action="receipt_rejected",
            actor=actor,
            now=now,
        )
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return None
        return claim.model_copy(
            update={"status": "rejected", "decided_by": actor, "decided_at": now, "rejection_reason": reason}
        )
