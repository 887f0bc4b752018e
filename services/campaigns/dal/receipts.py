"""Channel receipts on CampaignsTable (the only boto3 user for them): the send record they belong
to, the receipt recorded once with its event and counter, and a complaint's refusal.

* the send a receipt is for: ``SEND#<send_id>`` / ``SEND`` — GetItem (consistent, projected);
* a receipt, once: the send record (condition ``<kind>_at`` absent) + the outbox item
  (``MessageDelivered``, ``MessageClicked`` or ``MarketingComplaintReceived``) + the member's
  ``OUTBOXREF`` + the campaign's ``STATS#…`` ADD — one TransactWriteItems;
* a complaint's refusal: ``MEMBER#<id>`` / ``CONSENT#marketing#email`` with the erasure tombstone
  checked — TransactWriteItems (dal/privacy.py).
"""

from __future__ import annotations

from typing import Any

from services.campaigns.dal.campaign_stats import stats_update_op
from services.campaigns.dal.dispatch import outbox_ops, send_key
from services.campaigns.dal.privacy import DynamoConsentProjection
from services.campaigns.logic.privacy import ConsentFact, pseudonym
from services.campaigns.logic.receipts import Receipt, ReceiptEvent, SentMessage
from shared import clock
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, to_item, transact_write
from shared.outbox import outbox_item

PRODUCER = "campaigns.receipts"


class DynamoReceiptStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def sent_message(self, send_id: str) -> SentMessage | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table_name,
                Key=to_item(send_key(send_id)),
                ConsistentRead=True,
                ProjectionExpression="send_id, member_id, #kind, campaign_id, variant",
                ExpressionAttributeNames={"#kind": "kind"},
            )
            .get("Item")
        )
        if not item:
            return None
        plain = from_item(item)
        return SentMessage(
            send_id=str(plain["send_id"]),
            member_id=str(plain["member_id"]),
            kind=str(plain.get("kind") or "marketing"),
            campaign_id=plain.get("campaign_id"),
            variant=plain.get("variant"),
        )

    def record(
        self,
        receipt: Receipt,
        message: SentMessage,
        event: ReceiptEvent | None,
        counters: dict[str, int],
    ) -> bool:
        stamp = f"{receipt.kind}_at"
        sets = {"#stamp": ":at"}
        names = {"#stamp": stamp}
        values: dict[str, Any] = {":at": clock.to_utc_iso(receipt.at)}
        if receipt.reason:
            reason = "bounce_reason" if receipt.kind == "bounced" else "complaint_reason"
            sets["#reason"] = ":reason"
            names["#reason"] = reason
            values[":reason"] = receipt.reason
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(send_key(receipt.send_id)),
                    "UpdateExpression": "SET " + ", ".join(f"{k} = {v}" for k, v in sets.items()),
                    # Once per send and kind: SES delivers at least once, in any order. The
                    # record's version is not touched — dispatch is done with a sent message.
                    "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#stamp)",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": to_item(values),
                }
            }
        ]
        if event is not None:
            item = outbox_item(event, correlation_id=message.send_id, producer=PRODUCER, now=receipt.at)
            items.extend(outbox_ops(self.table_name, item, message.member_id))
        if message.campaign_id:
            items.append(
                stats_update_op(
                    self.table_name,
                    message.campaign_id,
                    message.variant or "-",
                    counters,
                    shard_key=message.send_id,
                )
            )
        try:
            transact_write(items)
        except ConditionalCheckFailed:
            return False
        return True


class ProjectionRefusals:
    """A complaint's refusal through the consent projection's own write (newer wins, erased
    members left alone: the tombstone is checked in the same transaction)."""

    def __init__(self, table_name: str, key: bytes) -> None:
        self.projection = DynamoConsentProjection(table_name)
        self.key = key

    def refuse(self, fact: ConsentFact) -> None:
        self.projection.store_if_newer(fact, pseudonym(self.key, fact.member_id))
