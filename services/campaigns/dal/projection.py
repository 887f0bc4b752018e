"""The last-purchase projection in CampaignsTable: ``pk = MEMBER#<member_id>``, ``sk = LAST_PURCHASE``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared import clock
from shared.aws import client
from shared.dynamo import from_item, is_conditional_check_failed, to_item, transact_write


def projection_key(member_id: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": "LAST_PURCHASE"}


class DynamoLastPurchaseRepository:
    """:class:`~services.campaigns.logic.projection.LastPurchaseRepository` on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def advance(
        self, member_id: str, occurred_at: datetime, purchase_id: str, erased_marker: str | None = None
    ) -> bool:
        update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": to_item(projection_key(member_id)),
            "UpdateExpression": "SET entity = :entity, member_id = :member, last_purchase_at = :at, "
            "last_purchase_id = :purchase",
            "ConditionExpression": "attribute_not_exists(last_purchase_at) OR last_purchase_at < :at",
            "ExpressionAttributeValues": to_item(
                {
                    ":entity": "member_last_purchase",
                    ":member": member_id,
                    ":at": clock.to_utc_iso(occurred_at),
                    ":purchase": purchase_id,
                }
            ),
        }
        try:
            if erased_marker is None:
                client("dynamodb").update_item(**update)
            else:
                not_erased = {
                    "TableName": self.table_name,
                    "Key": to_item({"pk": f"ERASED#{erased_marker}", "sk": "ERASED"}),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
                transact_write([{"ConditionCheck": not_erased}, {"Update": update}])
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    def last_purchase_at(self, member_id: str) -> datetime | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name, Key=to_item(projection_key(member_id)), ConsistentRead=True
        )
        item = response.get("Item")
        return clock.parse_iso(from_item(item)["last_purchase_at"]) if item else None
