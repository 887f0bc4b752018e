"""Pseudonymising a member's purchases (gsi1 ``MEMBER#<id>``), loyalty's erasure tombstone
(``ERASED#<pseudonym>`` / ``ERASED``); loyalty's pseudonym key is re-exported from dal/pseudonyms.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.dal.keys import member_partition, tombstone_key
from services.loyalty.dal.ledger import DynamoLedgerRepository
from services.loyalty.dal.pseudonyms import pseudonym_key
from shared import clock
from shared.aws import client
from shared.dynamo import from_item, is_conditional_check_failed, to_item

if TYPE_CHECKING:  # pragma: no cover - typing only
    from datetime import datetime


class DynamoLedgerPseudonymiser:
    """:class:`~services.loyalty.logic.privacy.LedgerPseudonymiser` on DynamoDB: Query gsi1, then
    one conditional UpdateItem per purchase (condition: still the member's)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def mark_erased(self, alias: str, erased_at: datetime) -> None:
        """The tombstone (pseudonym only; kept, no TTL); the first erasure's time wins."""
        try:
            client("dynamodb").put_item(
                TableName=self.table_name,
                Item=to_item(
                    {
                        **tombstone_key(alias),
                        "entity": "erasure_tombstone",
                        "erased_at": clock.to_utc_iso(erased_at),
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise

    def erase_ledger(self, alias: str, erased_at: datetime) -> None:
        DynamoLedgerRepository(self.table_name).mark_erased(alias, erased_at)

    def pseudonymise(self, member_id: str, alias: str) -> int:
        ddb = client("dynamodb")
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :member",
            "ExpressionAttributeValues": to_item({":member": member_partition(member_id)}),
            "ProjectionExpression": "pk, sk",
        }
        changed = 0
        while True:
            page = ddb.query(**kwargs)
            for raw in page.get("Items", []):
                key = from_item(raw)
                try:
                    ddb.update_item(
                        TableName=self.table_name,
                        Key=to_item({"pk": key["pk"], "sk": key["sk"]}),
                        UpdateExpression=(
                            "SET member_id = :alias, gsi1pk = :alias_pk, member_pseudonymised = :t, "
                            "member_status = :erased"
                        ),
                        ConditionExpression="member_id = :member",
                        ExpressionAttributeValues=to_item(
                            {
                                ":alias": alias,
                                ":alias_pk": member_partition(alias),
                                ":t": True,
                                ":erased": "erased",
                                ":member": member_id,
                            }
                        ),
                    )
                    changed += 1
                except Exception as exc:
                    if not is_conditional_check_failed(exc):
                        raise
            if "LastEvaluatedKey" not in page:
                return changed
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# pseudonym_key is defined in dal/pseudonyms.py (light: the export consumer needs only it).
__all__ = ["DynamoLedgerPseudonymiser", "pseudonym_key"]
