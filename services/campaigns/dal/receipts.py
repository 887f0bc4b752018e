"""Channel receipts on CampaignsTable (the only boto3 user for them): the send record they belong
to, the receipt recorded once with its event and counter, and a complaint's refusal.

* the send a receipt is for: ``SEND#<send_id>`` / ``SEND`` — GetItem (consistent, projected);
* the send an SMS receipt is for: ``gsi1`` ``SMSMSG#<SNS message id>`` / ``SEND`` — Query (one
  item, projected). Dispatch's ``mark_sent`` gives an SMS send record these two keys, so the index
  is sparse (SMS send records only) and an erasure, which deletes the send record, takes the entry
  with it (nothing to clean, nothing left naming the member);
* the send a WeChat result is for: ``gsi1`` ``WXMSG#<msgid>`` / ``SEND`` — the same Query (WeChat
  send records only, set by ``mark_sent`` the same way);
* a receipt, once: the send record (condition ``<kind>_at`` absent — for an SMS, neither final
  stamp ``delivered_at`` / ``bounced_at``) + the outbox item
  (``MessageDelivered``, ``MessageClicked`` or ``MarketingComplaintReceived``) + the member's
  ``OUTBOXREF`` + the campaign's ``STATS#…`` ADD — one TransactWriteItems;
* a complaint's refusal: ``MEMBER#<id>`` / ``CONSENT#marketing#email`` with the erasure tombstone
  checked — TransactWriteItems (dal/privacy.py).
"""

from __future__ import annotations

from typing import Any

from services.campaigns.dal.campaign_stats import stats_update_op
from services.campaigns.logic.privacy import ConsentFact, pseudonym
from services.campaigns.logic.receipts import Receipt, ReceiptEvent, SentMessage, stamps_that_exclude
from shared import clock
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, to_item, transact_write
from shared.outbox import outbox_item

PRODUCER = "campaigns.receipts"
SMS_INDEX = "gsi1"
_SENT_FIELDS = "send_id, member_id, #kind, campaign_id, variant"


def send_key(send_id: str) -> dict[str, str]:
    """The send record's key — dispatch's (``dal/dispatch.send_key``; a test holds them equal),
    written here so that reading a receipt does not import dispatch's store and its models."""
    return {"pk": f"SEND#{send_id}", "sk": "SEND"}


def sms_index_keys(provider_message_id: str) -> dict[str, str]:
    """The ``gsi1`` keys an SMS send record carries once SNS accepted it (``mark_sent``)."""
    return {"gsi1pk": f"SMSMSG#{provider_message_id}", "gsi1sk": "SEND"}


def wechat_index_keys(msg_id: str) -> dict[str, str]:
    """The ``gsi1`` keys a WeChat send record carries once WeChat accepted it (``mark_sent``): the
    ``msgid`` ``subscribeMessage.send`` returned, which its ``subscribe_msg_sent_event`` names."""
    return {"gsi1pk": f"WXMSG#{msg_id}", "gsi1sk": "SEND"}


def _sent(item: dict[str, Any]) -> SentMessage:
    plain = from_item(item)
    return SentMessage(
        send_id=str(plain["send_id"]),
        member_id=str(plain["member_id"]),
        kind=str(plain.get("kind") or "marketing"),
        campaign_id=plain.get("campaign_id"),
        variant=plain.get("variant"),
    )


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
                ProjectionExpression=_SENT_FIELDS,
                ExpressionAttributeNames={"#kind": "kind"},
            )
            .get("Item")
        )
        return _sent(item) if item else None

    def sms_message(self, provider_message_id: str) -> SentMessage | None:
        """One Query on the sparse ``gsi1`` entry (eventually consistent, like every GSI: SNS
        reports a status seconds to hours after the send, long after the index has caught up). A
        send record deleted meanwhile (erasure) fails the receipt's transaction condition."""
        items = (
            client("dynamodb")
            .query(
                TableName=self.table_name,
                IndexName=SMS_INDEX,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk = :sk",
                ExpressionAttributeValues=to_item(
                    {":pk": sms_index_keys(provider_message_id)["gsi1pk"], ":sk": "SEND"}
                ),
                ProjectionExpression=_SENT_FIELDS,
                ExpressionAttributeNames={"#kind": "kind"},
                Limit=1,
            )
            .get("Items")
        )
        return _sent(items[0]) if items else None

    def wechat_message(self, msg_id: str) -> SentMessage | None:
        """The same one Query, on the WeChat entry ``WXMSG#<msgid>`` (WeChat pushes the result
        seconds after the send; a record erased meanwhile fails the receipt's condition)."""
        return self._by_index(wechat_index_keys(msg_id)["gsi1pk"])

    def _by_index(self, gsi1pk: str) -> SentMessage | None:
        items = (
            client("dynamodb")
            .query(
                TableName=self.table_name,
                IndexName=SMS_INDEX,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk = :sk",
                ExpressionAttributeValues=to_item({":pk": gsi1pk, ":sk": "SEND"}),
                ProjectionExpression=_SENT_FIELDS,
                ExpressionAttributeNames={"#kind": "kind"},
                Limit=1,
            )
            .get("Items")
        )
        return _sent(items[0]) if items else None

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
        exclusive = [s for s in stamps_that_exclude(receipt) if s != stamp]
        names |= {f"#x{i}": name for i, name in enumerate(exclusive)}
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
                    "ConditionExpression": " AND ".join(
                        ["attribute_exists(pk)", "attribute_not_exists(#stamp)"]
                        + [f"attribute_not_exists(#x{i})" for i in range(len(exclusive))]
                    ),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": to_item(values),
                }
            }
        ]
        if event is not None:
            # Only a receipt to record needs dispatch's outbox reference (its module is the heavy
            # part of this function's cold import: its models and guardrails).
            from services.campaigns.dal.dispatch import outbox_ops  # noqa: PLC0415

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
        from services.campaigns.dal.privacy import DynamoConsentProjection  # noqa: PLC0415

        self.projection = DynamoConsentProjection(table_name)
        self.key = key

    def refuse(self, fact: ConsentFact) -> None:
        self.projection.store_if_newer(fact, pseudonym(self.key, fact.member_id))
