"""The last 8 days' erasures, by campaigns' pseudonym, for launches (logic/recent_erasures.py).

| item           | pk           | sk                                   | attributes                     |
|----------------|--------------|--------------------------------------|--------------------------------|
| recent erasure | ``ERASURES`` | ``<erased_at, UTC ISO>#<pseudonym>`` | ``pseudonym``, ttl (+ 8 days)  |

One partition: erasures are rare (a few a day) and the launch worker reads them all, one
consistent Query per page of 5,000 members. 8 days outlive every audience snapshot (7-day
lifecycle). The pseudonym is the one the tombstone ``ERASED#<pseudonym>`` already holds: this item
adds no identifier campaigns did not keep already.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared import clock
from shared.aws import client
from shared.dynamo import query_all, to_item

__all__ = ["KEEP", "RECENT_ERASURES_PK", "DynamoRecentErasures", "recent_erasure_item"]

RECENT_ERASURES_PK = "ERASURES"
KEEP = timedelta(days=8)


def recent_erasure_item(pseudonym: str, erased_at: datetime) -> dict[str, Any]:
    return {
        "pk": RECENT_ERASURES_PK,
        "sk": f"{clock.to_utc_iso(erased_at)}#{pseudonym}",
        "entity": "recent_erasure",
        "pseudonym": pseudonym,
        "ttl": clock.epoch_seconds(erased_at + KEEP),
    }


class DynamoRecentErasures:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def pseudonyms(self) -> frozenset[str]:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": RECENT_ERASURES_PK}),
            "ProjectionExpression": "pseudonym",
            "ConsistentRead": True,
        }
        return frozenset(str(i["pseudonym"]) for i in query_all(request, client=client("dynamodb")))
