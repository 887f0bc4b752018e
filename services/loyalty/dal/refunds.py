"""Refunds in LoyaltyTable.

* refund — ``REFUND#<source>#<external_id>`` / ``REFUND`` (once per external id)
* the purchase's ``refunded_cents`` — UpdateItem conditioned on the total read
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.loyalty.dal.keys import purchase_key
from services.loyalty.dal.ledger import DynamoLedgerRepository
from services.loyalty.dal.purchases import DynamoPurchaseRepository, nonce_item
from services.loyalty.logic.ledger import EventsOut, LedgerChange
from services.loyalty.logic.purchases import NonceClaim
from services.loyalty.logic.refunds import RefundOutcome
from services.loyalty.models.entities import Purchase
from services.loyalty.models.refunds import Refund
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    cancellation_reasons,
    from_item,
    put_op,
    to_item,
    transact_write,
)
from shared.events.contracts import PurchaseRefunded
from shared.outbox import outbox_item

NOT_EXISTS = "attribute_not_exists(pk)"
_NONCE, _REFUND, _PURCHASE = 0, 1, 2


def refund_key(source_system: str, external_id: str) -> dict[str, str]:
    return {"pk": f"REFUND#{source_system}#{external_id}", "sk": "REFUND"}


def refund_item(refund: Refund) -> dict[str, Any]:
    return {
        **refund_key(refund.source_system, refund.external_id),
        "entity": "refund",
        **refund.model_dump(mode="json", exclude={"occurred_at", "recorded_at"}),
        "occurred_at": clock.to_utc_iso(refund.occurred_at),
        "recorded_at": clock.to_utc_iso(refund.recorded_at),
    }


def refund_from_item(item: dict[str, Any]) -> Refund:
    fields = {k: v for k, v in item.items() if k in Refund.model_fields}
    fields.setdefault("points_clawed_back", None)
    fields.setdefault("movement_id", None)
    return Refund.model_validate(fields)


class DynamoRefundRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._purchases = DynamoPurchaseRepository(table_name)

    def get_purchase(self, source_system: str, external_id: str) -> Purchase | None:
        return self._purchases.get(source_system, external_id)

    def get_refund(self, source_system: str, external_id: str) -> Refund | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item(refund_key(source_system, external_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return refund_from_item(from_item(item)) if item else None

    def claim_nonce(self, nonce: NonceClaim) -> bool:
        return self._purchases.claim_nonce(nonce)

    def insert(
        self,
        refund: Refund,
        purchase: Purchase,
        nonce: NonceClaim,
        event: PurchaseRefunded,
        change: LedgerChange | None,
        *,
        correlation_id: str,
        producer: str,
        at: datetime,
    ) -> RefundOutcome:
        items: list[dict[str, Any]] = [
            put_op(self.table_name, nonce_item(nonce), condition=NOT_EXISTS),  # _NONCE
            put_op(self.table_name, refund_item(refund), condition=NOT_EXISTS),  # _REFUND
            {  # _PURCHASE: the running refunded total, only from the total read
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(purchase_key(purchase.source_system, purchase.external_id)),
                    "UpdateExpression": "SET refunded_cents = :after",
                    # Purchases recorded before refunds existed have no total yet (read as 0).
                    "ConditionExpression": "attribute_exists(pk) AND "
                    "(refunded_cents = :before OR attribute_not_exists(refunded_cents))",
                    "ExpressionAttributeValues": to_item(
                        {
                            ":after": purchase.refunded_cents + refund.amount_cents,
                            ":before": purchase.refunded_cents,
                        }
                    ),
                }
            },
            put_op(
                self.table_name,
                outbox_item(event, correlation_id=correlation_id, producer=producer, now=at),
                condition=NOT_EXISTS,
            ),
        ]
        if change is not None:
            items += DynamoLedgerRepository(self.table_name).change_items(
                change, events=EventsOut(events=(), correlation_id=correlation_id, producer=producer, at=at)
            )
        try:
            transact_write(items)
        except ConditionalCheckFailed as failed:
            if _NONCE in failed.failed_indexes:
                return RefundOutcome.NONCE_USED
            if _REFUND in failed.failed_indexes:
                return RefundOutcome.REFUND_EXISTS
            return RefundOutcome.RETRY
        except Exception as exc:
            if "TransactionConflict" in cancellation_reasons(exc):
                return RefundOutcome.RETRY
            raise
        return RefundOutcome.CREATED
