"""Reading everything loyalty holds about one member for the data export, and writing the part
to the members' export bucket (the only boto3 user for both; the writer is dal/export_writer.py).

Reads, all by key (no Scan): the ledger partition ``LEDGER#<pseudonym>`` (balance, every lot,
every movement — one Query, paginated), the member's purchases through ``gsi1``
``MEMBER#<member_id>`` (KEYS_ONLY, then GetItem each), and the wallet partition
``WALLET#<member_id>`` (one Query; receipt claims and adjustments are fetched by the ids their
wallet pointers hold).

Each part written is remembered in the wallet partition (``WALLET#<member_id>`` /
``EXPORT#<export_id>``, ``object_key``, TTL 8 days — the objects live 7), so the MemberErased
consumer deletes the part when an erasure overtakes the export (dal/wallet_privacy.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.loyalty.dal.keys import (
    BALANCE_SK,
    adjustment_key,
    claim_key,
    ledger_pk,
    member_partition,
    tombstone_key,
    wallet_pk,
)
from services.loyalty.dal.ledger_items import balance_from_item, lot_from_item, movement_from_item
from services.loyalty.dal.record_items import purchase_from_item, redemption_from_item
from services.loyalty.dal.wallet_items import adjustment_from_item, claim_from_item, coupon_from_item
from services.loyalty.logic.exports import LoyaltyHoldings
from shared import clock
from shared.aws import client
from shared.dynamo import from_item, query_all, to_item

POINTER_TTL_SECONDS = 8 * 86_400


def export_pointer_key(member_id: str, export_id: str) -> dict[str, str]:
    return {"pk": wallet_pk(member_id), "sk": f"EXPORT#{export_id}"}


class DynamoLoyaltyExportReader:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def _get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        raw = client("dynamodb").get_item(TableName=self.table, Key=to_item(dict(key)), ConsistentRead=True)
        return from_item(raw["Item"]) if "Item" in raw else None

    def is_erased(self, ledger_id: str) -> bool:
        """The erasure tombstone (written before anything of the member is pseudonymised)."""
        return self._get(tombstone_key(ledger_id)) is not None

    def remember(self, member_id: str, export_id: str, object_key: str) -> None:
        """The pointer to a part about to be written (before the object: see the module doc)."""
        client("dynamodb").put_item(
            TableName=self.table,
            Item=to_item(
                {
                    **export_pointer_key(member_id, export_id),
                    "entity": "export_part_ref",
                    "object_key": object_key,
                    "ttl": int(clock.now().timestamp()) + POINTER_TTL_SECONDS,
                }
            ),
        )

    def forget(self, member_id: str, export_id: str) -> None:
        client("dynamodb").delete_item(
            TableName=self.table, Key=to_item(export_pointer_key(member_id, export_id))
        )

    def holdings(self, member_id: str, ledger_id: str) -> LoyaltyHoldings:
        found = LoyaltyHoldings()
        self._ledger(found, ledger_id)
        self._purchases(found, member_id)
        self._wallet(found, member_id)
        return found

    def _ledger(self, found: LoyaltyHoldings, ledger_id: str) -> None:
        lots, movements = [], []
        ledger = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": ledger_pk(ledger_id)}),
            "ConsistentRead": True,
        }
        for item in query_all(ledger):
            sk = str(item["sk"])
            if sk == BALANCE_SK:
                found.balance = balance_from_item(item)
            elif sk.startswith("LOT#"):
                lots.append(lot_from_item(item))
            elif sk.startswith("MOV#"):
                movements.append(movement_from_item(item))
        found.lots, found.movements = lots, movements  # sk order: ULIDs, oldest first

    def _purchases(self, found: LoyaltyHoldings, member_id: str) -> None:

        by_member = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :member",
            "ExpressionAttributeValues": to_item({":member": member_partition(member_id)}),
        }
        purchases = []
        for key in query_all(by_member):
            item = self._get({"pk": str(key["pk"]), "sk": str(key["sk"])})
            if item is not None and item.get("member_id") == member_id:
                purchases.append(purchase_from_item(item))
        found.purchases = purchases

    def _wallet(self, found: LoyaltyHoldings, member_id: str) -> None:

        wallet = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id)}),
            "ConsistentRead": True,
        }
        coupons, receipts, redemptions, adjustments = [], [], [], []
        for item in query_all(wallet):
            sk = str(item["sk"])
            if sk.startswith("COUPON#"):
                coupons.append(coupon_from_item(item))
            elif sk.startswith("REDEMPTION#"):
                redemptions.append(redemption_from_item(item))
            elif sk.startswith("RECEIPT#"):
                claim = self._get(claim_key(sk.removeprefix("RECEIPT#")))
                if claim is not None:
                    receipts.append(claim_from_item(claim))
            elif sk.startswith("ADJUSTMENT#"):
                adjustment = self._get(adjustment_key(sk.removeprefix("ADJUSTMENT#")))
                if adjustment is not None:
                    adjustments.append(adjustment_from_item(adjustment))
        found.coupons, found.receipts = coupons, receipts
        found.redemptions, found.adjustments = redemptions, adjustments
