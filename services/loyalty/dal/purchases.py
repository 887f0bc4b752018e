"""Purchases in LoyaltyTable (the only boto3 user for them).

| item     | pk                                   | sk         |
|----------|--------------------------------------|------------|
| purchase | ``PURCHASE#<source>#<external_id>``  | ``PURCHASE`` |
| nonce    | ``NONCE#<source>#<nonce>``           | ``NONCE``  (ttl) |
| outbox   | ``OUTBOX#<event_id>``                | ``OUTBOX`` (ttl, see shared.outbox) |
| erasure tombstone | ``ERASED#<pseudonym>``      | ``ERASED`` (written by the MemberErased consumer) |

Purchases of a member carry ``gsi1pk = MEMBER#<member_id>``, ``gsi1sk = <occurred_at>#<purchase_id>``
(sparse: anonymous purchases have none), so erasure finds a member's purchases without a scan.
"""

from __future__ import annotations

from typing import Any

from services.loyalty.dal.attrs import item_attrs, put
from services.loyalty.dal.keys import purchase_key, tombstone_key
from services.loyalty.dal.ledger import DynamoLedgerRepository
from services.loyalty.dal.record_items import purchase_from_item, purchase_item
from services.loyalty.logic.ledger import EventsOut
from services.loyalty.logic.purchase_points import PurchaseLedgerPlan
from services.loyalty.logic.purchases import InsertOutcome, NonceClaim, OutboxEntry
from services.loyalty.models.entities import Purchase
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    cancellation_reasons,
    from_item,
    is_conditional_check_failed,
    to_item,
    transact_write,
)
from shared.outbox import outbox_item

NOT_EXISTS = "attribute_not_exists(pk)"
_NONCE_INDEX, _PURCHASE_INDEX, _TOMBSTONE_INDEX = 0, 1, 3


def nonce_item(nonce: NonceClaim) -> dict[str, Any]:
    return {
        "pk": f"NONCE#{nonce.source}#{nonce.nonce}",
        "sk": "NONCE",
        "entity": "nonce",
        "ttl": clock.epoch_seconds(nonce.expires_at),
    }


class DynamoPurchaseRepository:
    """:class:`~services.loyalty.logic.purchases.PurchaseRepository` on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def insert(
        self,
        purchase: Purchase,
        outbox: OutboxEntry,
        nonce: NonceClaim,
        *,
        unless_erased: str | None = None,
        ledger: PurchaseLedgerPlan | None = None,
    ) -> InsertOutcome:
        outbox_record = outbox_item(
            outbox.event, correlation_id=outbox.correlation_id, producer=outbox.producer, now=outbox.at
        )
        items = [
            put(self.table_name, nonce_item(nonce), condition=NOT_EXISTS),  # _NONCE_INDEX
            put(self.table_name, purchase_item(purchase), condition=NOT_EXISTS),  # _PURCHASE_INDEX
            put(self.table_name, outbox_record, condition=NOT_EXISTS),
        ]
        if unless_erased is not None:
            items.append(  # _TOMBSTONE_INDEX
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": item_attrs(tombstone_key(unless_erased)),
                        "ConditionExpression": NOT_EXISTS,
                    }
                }
            )
        if ledger is not None:
            items += self._ledger_items(ledger, outbox)
        try:
            transact_write(items)
        except ConditionalCheckFailed as failed:
            if _NONCE_INDEX in failed.failed_indexes:
                return InsertOutcome.NONCE_USED
            if _PURCHASE_INDEX in failed.failed_indexes:
                return InsertOutcome.PURCHASE_EXISTS
            if _TOMBSTONE_INDEX in failed.failed_indexes:
                return InsertOutcome.MEMBER_ERASED
            if ledger is not None:
                return InsertOutcome.LEDGER_CONFLICT
            raise
        except Exception as exc:
            # Two purchases of one member at the same instant: the other transaction held the
            # balance item. Same as a version conflict: read again.
            if ledger is not None and "TransactionConflict" in cancellation_reasons(exc):
                return InsertOutcome.LEDGER_CONFLICT
            raise
        return InsertOutcome.CREATED

    def _ledger_items(self, plan: PurchaseLedgerPlan, outbox: OutboxEntry) -> list[dict[str, Any]]:
        ledger = DynamoLedgerRepository(self.table_name)
        events = EventsOut(
            events=plan.events, correlation_id=outbox.correlation_id, producer=outbox.producer, at=outbox.at
        )
        if plan.change is not None:
            return ledger.change_items(plan.change, events=events)
        # Nothing earned: the balance still records the spend (and maybe a tier upgrade on spend).
        ops = [ledger.balance_op(plan.before, plan.after)]
        return ops + ledger.change_items_events(events)

    def get(self, source_system: str, external_id: str) -> Purchase | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item(purchase_key(source_system, external_id)),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return purchase_from_item(from_item(item)) if item else None

    def is_erased(self, alias: str) -> bool:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item(tombstone_key(alias)),
            ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in response

    def claim_nonce(self, nonce: NonceClaim) -> bool:
        try:
            client("dynamodb").put_item(
                TableName=self.table_name, Item=to_item(nonce_item(nonce)), ConditionExpression=NOT_EXISTS
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True
