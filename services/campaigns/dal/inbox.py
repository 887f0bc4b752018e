"""The inbox in CampaignsTable: ``MEMBER#<member_id>`` / ``INBOX#<message ulid>`` (written by
dispatch with the send record; Query newest first; erasure deletes it with the member's partition)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from services.campaigns.logic.errors import InvalidNextToken
from services.campaigns.logic.inbox import InboxPage
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    to_item,
    transact_write,
)
from shared.outbox import outbox_item

if TYPE_CHECKING:  # pragma: no cover - typing only
    from datetime import datetime

    from shared.events.contracts import MessageClicked


def _key(member_id: str, message_id: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": f"INBOX#{message_id}"}


class DynamoInbox:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def newest_first(self, member_id: str, limit: int, next_token: str | None) -> InboxPage:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}", ":prefix": "INBOX#"}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = to_item(_decode(next_token, member_id))
        page = client("dynamodb").query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return InboxPage(
            items=[from_item(i) for i in page.get("Items", [])],
            next_token=_encode(from_item(last)) if last else None,
        )

    def get(self, member_id: str, message_id: str) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table_name, Key=to_item(_key(member_id, message_id)), ConsistentRead=True
            )
            .get("Item")
        )
        return from_item(item) if item else None

    def record_click(self, member_id: str, message: dict[str, Any], event: MessageClicked | None) -> bool:
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(_key(member_id, str(message["message_id"]))),
                    # Opening a message reads it (read_at kept if /read came first).
                    "UpdateExpression": "SET clicked_at = :at, read_at = if_not_exists(read_at, :at)",
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(clicked_at)",
                    "ExpressionAttributeValues": to_item(
                        {":at": clock.to_utc_iso(event.clicked_at if event else clock.now())}
                    ),
                }
            }
        ]
        if event is not None:
            # dispatch's store brings the guardrails; only a first click needs its outbox helper.
            from services.campaigns.dal.dispatch import outbox_ops  # noqa: PLC0415

            item = outbox_item(
                event, correlation_id=event.send_id, producer="campaigns.inbox", now=event.clicked_at
            )
            items.extend(outbox_ops(self.table_name, item, member_id))
            if event.campaign_id:
                from services.campaigns.dal.campaign_stats import stats_update_op  # noqa: PLC0415

                items.append(
                    stats_update_op(
                        self.table_name,
                        event.campaign_id,
                        event.variant or "-",
                        {"clicked": 1},
                        shard_key=event.send_id,
                    )
                )
        try:
            transact_write(items)
        except ConditionalCheckFailed:
            return False
        return True

    def record_read(self, member_id: str, message_id: str, at: datetime) -> bool:
        """``read_at`` once; False when the message was read before (or is gone)."""
        try:
            client("dynamodb").update_item(
                TableName=self.table_name,
                Key=to_item(_key(member_id, message_id)),
                UpdateExpression="SET read_at = :at",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(read_at)",
                ExpressionAttributeValues=to_item({":at": clock.to_utc_iso(at)}),
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True


def _encode(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode(token: str, member_id: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidNextToken() from None
    if (
        not isinstance(key, dict)
        or set(key) != {"pk", "sk"}
        or key.get("pk") != f"MEMBER#{member_id}"  # a token from another member's inbox: refused
        or not str(key.get("sk", "")).startswith("INBOX#")
    ):
        raise InvalidNextToken()
    return key
