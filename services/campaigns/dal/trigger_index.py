"""Does an operator's triggered campaign cover an event? (the trigger index, one Query)."""

from __future__ import annotations

from shared.aws import client
from shared.dynamo import to_item


def has_active_trigger(table_name: str, event: str) -> bool:
    """True when the trigger index holds an active campaign for ``event`` (detail-type).

    The index (``TRIGGER#<event>`` / ``CAMPAIGN#<id>``, written when a triggered campaign is
    activated — services/campaigns/dal/planning.py) only holds active campaigns.
    """
    page = client("dynamodb").query(
        TableName=table_name,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
        ExpressionAttributeValues=to_item({":pk": f"TRIGGER#{event}", ":c": "CAMPAIGN#"}),
        ProjectionExpression="pk",
        Limit=1,
    )
    return bool(page.get("Items"))
