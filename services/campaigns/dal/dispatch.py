"""Dispatch state in CampaignsTable (the only boto3 user for it) and the due-index wake-ups.

| item                    | pk                                   | sk                         |
|-------------------------|--------------------------------------|----------------------------|
| send record             | ``SEND#<send_id>``                   | ``SEND``                   |
| cap counter (day/week)  | ``CAP#<member_id>#<channel>``        | ``DAY#<date>``/``WEEK#<iso week>`` |
| due index (deferrals)   | ``DUE#<UTC minute>#<shard 0..7>``    | ``<send_id>``              |
| campaign rate counter   | ``RATE#<campaign_id>``               | ``<UTC minute>``           |
| campaign counters       | ``CAMPAIGN#<campaign_id>``           | ``STATS#<variant or ->``   |
| last marketing contact  | ``MEMBER#<member_id>``               | ``LAST_CONTACT``           |
| inbox message           | ``MEMBER#<member_id>``               | ``INBOX#<message ulid>``   |

Inbox and last contact live in the member's partition, so erasure (which deletes ``MEMBER#<id>``
items) removes them too. Send records drop the request body (names, texts) once terminal.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, Literal

from services.campaigns.logic.dispatch import (
    TERMINAL,
    Conflict,
    Delivery,
    OutgoingMessage,
    SendRecord,
    Slots,
)
from services.campaigns.logic.guardrails import Consents, Holder, ceil_minute
from services.campaigns.models.dispatch import CHANNELS, Channel, SendRequest
from shared import clock, ids
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)
from shared.events.contracts import MessageDelivered, MessageSent, MessageSuppressed
from shared.outbox import outbox_item

DUE_SHARDS = 8
SEND_RECORD_TTL = timedelta(days=400)  # > a year: "once per member per year" for birthdays
CAP_TTL = timedelta(days=9)
RATE_TTL = timedelta(hours=1)
DUE_TTL = timedelta(days=60)
PRODUCER = "campaigns.dispatch"


def send_key(send_id: str) -> dict[str, str]:
    return {"pk": f"SEND#{send_id}", "sk": "SEND"}


def cap_key(member_id: str, channel: str, period: str) -> dict[str, str]:
    return {"pk": f"CAP#{member_id}#{channel}", "sk": period}


def bucket_of(at: datetime) -> str:
    return clock.to_utc_iso(ceil_minute(at))


def due_shard(send_id: str) -> int:
    return hashlib.sha256(send_id.encode()).digest()[0] % DUE_SHARDS


def due_key(bucket: str, send_id: str) -> dict[str, str]:
    return {"pk": f"DUE#{bucket}#{due_shard(send_id)}", "sk": send_id}


def _iso(value: datetime | None) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def record_from_item(item: dict[str, Any]) -> SendRecord:
    return SendRecord(
        send_id=str(item["send_id"]),
        status=item["status"],
        version=int(item.get("version", 0)),
        due_at=clock.parse_iso(item["due_at"]) if item.get("due_at") else None,
        channel=item.get("channel"),
        attempts=int(item.get("attempts", 0)),
        reason=item.get("reason"),
        day=item.get("day"),
        week=item.get("week"),
        coupon_id=item.get("coupon_id"),
    )


def _holders(item: dict[str, Any] | None) -> tuple[dict[str, Holder], int]:
    if not item:
        return {}, -1
    raw = item.get("holders") or {}
    holders = {
        sid: Holder(send_id=sid, priority=int(h["p"]), state=h["s"], at=str(h["at"]))
        for sid, h in raw.items()
    }
    return holders, int(item.get("version", 0))


class DynamoDispatchStore:
    """:class:`~services.campaigns.logic.dispatch.DispatchStore` on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._cancelled: dict[str, bool] = {}

    # --- reads ---------------------------------------------------------------------------------

    def campaign_cancelled(self, campaign_id: str) -> bool:
        """The cancelled marker planning writes with the status (``CAMPAIGN#<id>`` /
        ``CANCELLED``). Read once per campaign per store — the handler builds one store per
        batch, so a batch of ten messages of one campaign costs one small GetItem, and a
        cancellation is seen by the next batch."""
        if campaign_id not in self._cancelled:
            item = client("dynamodb").get_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"CAMPAIGN#{campaign_id}", "sk": "CANCELLED"}),
                ConsistentRead=True,
                ProjectionExpression="pk",
            )
            self._cancelled[campaign_id] = "Item" in item
        return self._cancelled[campaign_id]

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table_name, Key=to_item(key), ConsistentRead=True)
            .get("Item")
        )
        return from_item(item) if item else None

    def get(self, send_id: str) -> SendRecord | None:
        item = self._get(send_key(send_id))
        return record_from_item(item) if item else None

    def request_body(self, send_id: str) -> str | None:
        item = self._get(send_key(send_id))
        return str(item["request"]) if item and item.get("request") else None

    def consents(self, member_id: str) -> Consents:
        items = query_all(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}", ":prefix": "CONSENT#"}),
                "ConsistentRead": True,
            }
        )
        channels: set[str] = set()
        personalisation_withdrawn = False
        for item in items:
            if item.get("purpose") == "marketing" and item.get("channel") and item.get("granted") is True:
                channels.add(str(item["channel"]))
            if item.get("purpose") == "personalisation" and item.get("granted") is False:
                personalisation_withdrawn = True
        return Consents(frozenset(channels), personalisation_withdrawn)

    def slots(self, member_id: str, channel: Channel, day: str, week: str) -> Slots:
        day_item = self._get(cap_key(member_id, channel, f"DAY#{day}"))
        week_item = self._get(cap_key(member_id, channel, f"WEEK#{week}"))
        day_holders, day_version = _holders(day_item)
        week_holders, week_version = _holders(week_item)
        return Slots(day_holders, week_holders, day_version, week_version)

    def last_contact(self, member_id: str) -> datetime | None:
        item = self._get({"pk": f"MEMBER#{member_id}", "sk": "LAST_CONTACT"})
        return clock.parse_iso(item["contacted_at"]) if item else None

    # --- transaction pieces --------------------------------------------------------------------

    def _record_update(
        self,
        record: SendRecord,
        sets: dict[str, Any],
        *,
        remove: tuple[str, ...] = (),
        add_attempt: bool = False,
    ) -> dict[str, Any]:
        # A None value means "no value": the attribute is removed rather than set.
        remove = tuple(remove) + tuple(k for k, v in sets.items() if v is None)
        sets = {k: v for k, v in sets.items() if v is not None}
        names = {f"#{k}": k for k in sets} | {f"#{k}": k for k in remove} | {"#version": "version"}
        values = {f":{k}": v for k, v in sets.items()} | {":v": record.version, ":v1": record.version + 1}
        expression = "SET " + ", ".join([f"#{k} = :{k}" for k in sets] + ["#version = :v1"])
        if add_attempt:
            expression += ", attempts = if_not_exists(attempts, :zero) + :one"
            values |= {":zero": 0, ":one": 1}
        if remove:
            expression += " REMOVE " + ", ".join(f"#{k}" for k in remove)
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(send_key(record.send_id)),
                "UpdateExpression": expression,
                "ConditionExpression": "#version = :v",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }

    def _stats(self, request: SendRequest, counters: dict[str, int]) -> list[dict[str, Any]]:
        if not request.campaign_id or not counters:
            return []
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values = {f":c{i}": n for i, n in enumerate(counters.values())}
        return [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(
                        {"pk": f"CAMPAIGN#{request.campaign_id}", "sk": f"STATS#{request.stats_variant()}"}
                    ),
                    "UpdateExpression": "SET entity = :entity ADD "
                    + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": to_item(values | {":entity": "campaign_stats"}),
                }
            }
        ]

    def _outbox(self, event: Any, request: SendRequest, now: datetime) -> list[dict[str, Any]]:
        item = outbox_item(event, correlation_id=request.send_id, producer=PRODUCER, now=now)
        return outbox_ops(self.table_name, item, request.member_id)

    def _due(self, request: SendRequest, until: datetime) -> dict[str, Any]:
        bucket = bucket_of(until)
        item = {
            **due_key(bucket, request.send_id),
            "entity": "dispatch_due",
            "bucket": bucket,
            "body": request.model_dump_json(),
            "ttl": clock.epoch_seconds(until + DUE_TTL),
        }
        return put_op(self.table_name, item)

    def _write(self, items: list[dict[str, Any]]) -> None:
        try:
            transact_write(items)
        except ConditionalCheckFailed as failed:
            raise Conflict(f"send record moved meanwhile (items {failed.failed_indexes})") from failed

    def _suppressed_event(
        self,
        request: SendRequest,
        *,
        outcome: Literal["deferred", "suppressed", "failed"],
        reason: str,
        channel: Channel | None,
        until: datetime | None,
        now: datetime,
    ) -> MessageSuppressed:
        return MessageSuppressed(
            send_id=request.send_id,
            member_id=request.member_id,
            kind=request.kind,
            campaign_id=request.campaign_id,
            variant=request.variant,
            journey=request.journey,
            channel=channel,
            outcome=outcome,
            reason=reason,
            deferred_until=until,
            decided_at=now,
        )

    # --- writes --------------------------------------------------------------------------------

    def create(self, request: SendRequest, now: datetime) -> SendRecord:
        item = {
            **send_key(request.send_id),
            "entity": "send",
            "send_id": request.send_id,
            "member_id": request.member_id,
            "kind": request.kind,
            "campaign_id": request.campaign_id,
            "variant": request.variant,
            "journey": request.journey,
            "status": "pending",
            "version": 0,
            "attempts": 0,
            "request": request.model_dump_json(),
            "created_at": clock.to_utc_iso(now),
            "ttl": clock.epoch_seconds(now + SEND_RECORD_TTL),
        }
        ref = {
            "pk": f"MEMBER#{request.member_id}",
            "sk": f"SENDREF#{request.send_id}",
            "entity": "send_ref",
            "send_id": request.send_id,
            "ttl": item["ttl"],
        }
        try:
            # The member's reference lets erasure find the record without a scan.
            transact_write(
                [
                    put_op(self.table_name, item, condition="attribute_not_exists(pk)"),
                    put_op(self.table_name, ref),
                ]
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise
            existing = self.get(request.send_id)
            if existing is None:  # pragma: no cover - deleted between the two calls
                raise Conflict("send record vanished") from exc
            return existing
        return SendRecord(send_id=request.send_id, status="pending", version=0)

    def _cap_update(  # noqa: PLR0917 - one counter update, every part named at the call
        self,
        member_id: str,
        channel: str,
        period: str,
        version: int,
        sets: dict[str, Any],
        remove: list[str],
        now: datetime,
    ) -> dict[str, Any]:
        names: dict[str, str] = {"#h": "holders", "#version": "version"}
        values: dict[str, Any] = {":v1": version + 1, ":ttl": clock.epoch_seconds(now + CAP_TTL)}
        parts = ["#version = :v1", "#ttl = :ttl", "entity = :entity"]
        names["#ttl"] = "ttl"
        values[":entity"] = "frequency_cap"
        for i, (sid, holder) in enumerate(sets.items()):
            names[f"#s{i}"] = sid
            values[f":h{i}"] = holder
            parts.append(f"#h.#s{i} = :h{i}")
        expression = "SET " + ", ".join(parts)
        if remove:
            for i, sid in enumerate(remove):
                names[f"#r{i}"] = sid
            expression += " REMOVE " + ", ".join(f"#h.#r{i}" for i in range(len(remove)))
        if version < 0:
            # First holder of the period: create the map (a nested SET needs it to exist).
            values = {k: v for k, v in values.items() if not k.startswith(":h")}
            values[":holders"] = dict(sets)
            expression = "SET #h = :holders, #version = :v1, #ttl = :ttl, entity = :entity"
            names = {"#h": "holders", "#version": "version", "#ttl": "ttl"}
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#version = :v"
            values[":v"] = version
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(cap_key(member_id, channel, period)),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }

    def hold(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        channel: Channel,
        day: str,
        week: str,
        slots: Slots,
        victim: str | None,
        until: datetime,
        now: datetime,
    ) -> SendRecord:
        holder = {"p": request.priority, "s": "held", "at": clock.to_utc_iso(now)}
        remove = [victim] if victim else []
        items = [
            self._cap_update(
                request.member_id,
                channel,
                f"DAY#{day}",
                slots.day_version,
                {request.send_id: holder},
                remove,
                now,
            ),
            self._cap_update(
                request.member_id,
                channel,
                f"WEEK#{week}",
                slots.week_version,
                {request.send_id: holder},
                remove,
                now,
            ),
            self._record_update(
                record,
                {"status": "held", "due_at": _iso(until), "channel": channel, "day": day, "week": week},
            ),
        ]
        if until > now:
            items.append(self._due(request, until))
        self._write(items)
        return SendRecord(
            send_id=record.send_id,
            status="held",
            version=record.version + 1,
            due_at=until,
            channel=channel,
            attempts=record.attempts,
            day=day,
            week=week,
        )

    def release(self, record: SendRecord, member_id: str) -> None:
        if not (record.channel and record.day and record.week):
            return
        ddb = client("dynamodb")
        for period in (f"DAY#{record.day}", f"WEEK#{record.week}"):
            try:
                ddb.update_item(
                    TableName=self.table_name,
                    Key=to_item(cap_key(member_id, record.channel, period)),
                    UpdateExpression="REMOVE #h.#sid SET #version = #version + :one",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames={"#h": "holders", "#sid": record.send_id, "#version": "version"},
                    ExpressionAttributeValues=to_item({":one": 1}),
                )
            except Exception as exc:
                if not is_conditional_check_failed(exc):
                    raise

    def take_rate_token(self, campaign_id: str, minute: datetime, limit: int) -> bool:
        try:
            client("dynamodb").update_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"RATE#{campaign_id}", "sk": clock.to_utc_iso(minute)}),
                UpdateExpression="ADD #n :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#n) OR #n < :limit",
                ExpressionAttributeNames={"#n": "sent", "#ttl": "ttl"},
                ExpressionAttributeValues=to_item(
                    {":one": 1, ":limit": limit, ":ttl": clock.epoch_seconds(minute + RATE_TTL)}
                ),
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    def defer(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        until: datetime,
        reason: str,
        channel: Channel | None,
        now: datetime,
    ) -> SendRecord:
        event = self._suppressed_event(
            request, outcome="deferred", reason=reason, channel=channel, until=until, now=now
        )
        self._write(
            [
                self._record_update(
                    record,
                    {"status": "pending", "due_at": _iso(until), "reason": reason},
                    remove=("day", "week"),
                ),
                self._due(request, until),
                *self._outbox(event, request, now),
                *self._stats(request, {"deferred": 1}),
            ]
        )
        return SendRecord(send_id=record.send_id, status="pending", version=record.version + 1, due_at=until)

    def finish(
        self,
        record: SendRecord,
        request: SendRequest,
        *,
        outcome: Literal["suppressed", "failed"],
        reason: str,
        channel: Channel | None,
        now: datetime,
    ) -> None:
        event = self._suppressed_event(
            request, outcome=outcome, reason=reason, channel=channel, until=None, now=now
        )
        counter = "failed" if outcome == "failed" else f"suppressed_{reason}"
        self._write(
            [
                self._record_update(
                    record,
                    {"status": outcome, "reason": reason, "finished_at": clock.to_utc_iso(now)},
                    remove=("request", "due_at"),
                ),
                *self._outbox(event, request, now),
                *self._stats(request, {counter: 1}),
            ]
        )

    def start_sending(
        self, record: SendRecord, request: SendRequest, *, channel: Channel, lease_until: datetime
    ) -> SendRecord:
        items = [
            self._record_update(
                record,
                {"status": "sending", "due_at": _iso(lease_until), "channel": channel},
                add_attempt=True,
            )
        ]
        if record.status == "held" and record.day and record.week:
            for period in (f"DAY#{record.day}", f"WEEK#{record.week}"):
                items.append(
                    {
                        "Update": {
                            "TableName": self.table_name,
                            "Key": to_item(cap_key(request.member_id, channel, period)),
                            "UpdateExpression": "SET #h.#sid.#s = :sent, #version = #version + :one",
                            # Still ours: a higher priority may have taken it a moment ago.
                            "ConditionExpression": "attribute_exists(#h.#sid)",
                            "ExpressionAttributeNames": {
                                "#h": "holders",
                                "#sid": record.send_id,
                                "#s": "s",
                                "#version": "version",
                            },
                            "ExpressionAttributeValues": to_item({":sent": "sent", ":one": 1}),
                        }
                    }
                )
        self._write(items)
        return SendRecord(
            send_id=record.send_id,
            status="sending",
            version=record.version + 1,
            due_at=lease_until,
            channel=channel,
            attempts=record.attempts + 1,
            day=record.day,
            week=record.week,
        )

    def retry(self, record: SendRecord, request: SendRequest, *, until: datetime, reason: str) -> SendRecord:
        self._write(
            [
                self._record_update(record, {"status": "retry", "due_at": _iso(until), "reason": reason}),
                self._due(request, until),
            ]
        )
        return SendRecord(
            send_id=record.send_id,
            status="retry",
            version=record.version + 1,
            due_at=until,
            channel=record.channel,
            attempts=record.attempts,
        )

    def mark_sent(
        self,
        record: SendRecord,
        request: SendRequest,
        message: OutgoingMessage,
        delivery: Delivery,
        *,
        coupon_id: str | None,
        now: datetime,
    ) -> None:
        sent = MessageSent(
            send_id=request.send_id,
            member_id=request.member_id,
            kind=request.kind,
            campaign_id=request.campaign_id,
            variant=request.variant,
            journey=request.journey,
            channel=message.channel,
            provider_message_id=delivery.provider_message_id,
            coupon_id=coupon_id,
            attempts=max(1, record.attempts),
            sent_at=now,
        )
        sets: dict[str, Any] = {
            "status": "sent",
            "sent_at": clock.to_utc_iso(now),
            "provider_message_id": delivery.provider_message_id,
        }
        if coupon_id:
            sets["coupon_id"] = coupon_id
        items = [
            self._record_update(record, sets, remove=("request", "due_at", "reason")),
            *self._outbox(sent, request, now),
        ]
        counters = {"sent": 1}
        if delivery.delivered:
            counters["delivered"] = 1
            items.extend(
                self._outbox(
                    MessageDelivered(
                        send_id=request.send_id,
                        member_id=request.member_id,
                        campaign_id=request.campaign_id,
                        variant=request.variant,
                        channel=message.channel,
                        delivered_at=now,
                    ),
                    request,
                    now,
                )
            )
        items.extend(self._stats(request, counters))
        if request.kind == "marketing":
            items.append(
                put_op(
                    self.table_name,
                    {
                        "pk": f"MEMBER#{request.member_id}",
                        "sk": "LAST_CONTACT",
                        "entity": "last_contact",
                        "contacted_at": clock.to_utc_iso(now),
                        "send_id": request.send_id,
                        "channel": message.channel,
                    },
                )
            )
        if message.channel == "inbox":
            items.append(put_op(self.table_name, inbox_item(request, message, now)))
        self._write(items)


def inbox_item(request: SendRequest, message: OutgoingMessage, now: datetime) -> dict[str, Any]:
    message_id = ids.new_ulid()
    return {
        "pk": f"MEMBER#{request.member_id}",
        "sk": f"INBOX#{message_id}",
        "entity": "inbox_message",
        "message_id": message_id,
        "send_id": request.send_id,
        "kind": request.kind,
        "campaign_id": request.campaign_id,
        "variant": request.variant,
        "topic": request.topic,
        "title": message.title,
        "body": message.body,
        "link": message.link,
        "sent_at": clock.to_utc_iso(now),
    }


def outbox_ops(table_name: str, item: dict[str, Any], member_id: str) -> list[dict[str, Any]]:
    """The outbox Put and the member's reference to it (``MEMBER#<id>`` / ``OUTBOXREF#<event_id>``):
    outbox items carry the member id for their 7-day TTL, so erasure deletes them through it."""
    ref = {
        "pk": f"MEMBER#{member_id}",
        "sk": f"OUTBOXREF#{item['event_id']}",
        "entity": "outbox_ref",
        "outbox_pk": item["pk"],
        "ttl": item["ttl"],
    }
    return [put_op(table_name, item, condition="attribute_not_exists(pk)"), put_op(table_name, ref)]


def erase_member_delivery(table_name: str, member_id: str, member_items: list[dict[str, Any]]) -> int:
    """Erasure (called by the privacy consumer before it deletes the member's ``MEMBER#`` items):
    the member's send records (found through their ``SENDREF#`` references) with any due-index
    entry, and the member's cap counters. Idempotent; returns how many items were deleted. Campaign
    counters keep their aggregates; published events are not recalled."""
    ddb = client("dynamodb")
    deleted = 0
    for ref in member_items:
        if ref.get("entity") == "outbox_ref":  # published long since: the bus has it
            ddb.delete_item(TableName=table_name, Key=to_item({"pk": str(ref["outbox_pk"]), "sk": "OUTBOX"}))
            deleted += 1
            continue
        if ref.get("entity") != "send_ref":
            continue
        key = send_key(str(ref["send_id"]))
        item = ddb.get_item(TableName=table_name, Key=to_item(key), ConsistentRead=True).get("Item")
        if item:
            record = from_item(item)
            if record.get("due_at"):
                due = due_key(bucket_of(clock.parse_iso(str(record["due_at"]))), str(record["send_id"]))
                ddb.delete_item(TableName=table_name, Key=to_item(due))
            ddb.delete_item(TableName=table_name, Key=to_item(key))
            deleted += 1
    for channel in CHANNELS:
        request = {
            "TableName": table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": f"CAP#{member_id}#{channel}"}),
            "ConsistentRead": True,
        }
        for cap in query_all(request):
            ddb.delete_item(TableName=table_name, Key=to_item({"pk": cap["pk"], "sk": cap["sk"]}))
            deleted += 1
    return deleted


def is_terminal(record: SendRecord | None) -> bool:
    return record is not None and record.status in TERMINAL


# --- the due index's wake-ups (EventBridge Scheduler one-time schedules) ------------------------


def schedule_name(bucket: str, suffix: str = "") -> str:
    """``campaigns-due-<yyyymmddhhmm>``: one one-time schedule per minute that has deferred sends."""
    compact = bucket[:16].replace("-", "").replace(":", "").replace("T", "")
    return f"campaigns-due-{compact}{suffix}"


class SchedulerWaker:
    """:class:`~services.campaigns.logic.dispatch.Waker`: one EventBridge Scheduler ``at()`` schedule
    per minute bucket that holds deferred sends, invoking ``CampaignsDispatchDueFunction`` with
    ``{"bucket": ...}`` and deleted after it ran.

    A marker item ``WAKE#<schedule name>`` records that the schedule was created, so a launch that
    defers a million messages to 09:00 reads one small item per message (GetItem) instead of
    calling CreateSchedule a million times (its API quota is far lower). The schedule is created
    *before* the marker is written: a crash in between only means the next message creates it
    again (``ConflictException``, ignored).
    """

    def __init__(
        self,
        target_arn: str,
        role_arn: str,
        group: str = "default",
        dead_letter_arn: str | None = None,
        *,
        table_name: str,
    ) -> None:
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.group = group
        self.dead_letter_arn = dead_letter_arn
        self.table_name = table_name

    def ensure(self, at: datetime, *, suffix: str = "", bucket: str | None = None) -> None:
        """Fire at ``at``'s minute for that minute's bucket (or for ``bucket``: a follow-up run)."""
        fire_at = bucket_of(at)
        bucket = bucket or fire_at
        name = schedule_name(bucket, suffix)
        marker = to_item({"pk": f"WAKE#{name}", "sk": "WAKE"})
        ddb = client("dynamodb")
        if ddb.get_item(TableName=self.table_name, Key=marker).get("Item"):
            return
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps({"bucket": bucket}),
            "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400},
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        try:
            client("scheduler").create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=f"at({fire_at[:19]})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target=target,
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code != "ConflictException":
                raise
        ddb.put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": f"WAKE#{name}",
                    "sk": "WAKE",
                    "entity": "due_wake_up",
                    "bucket": bucket,
                    "ttl": clock.epoch_seconds(clock.parse_iso(fire_at) + timedelta(days=2)),
                }
            ),
        )


class DueIndex:
    """Reads and clears one minute bucket of the due index (``CampaignsDispatchDueFunction``)."""

    def __init__(self, table_name: str, queue_url: str) -> None:
        self.table_name = table_name
        self.queue_url = queue_url

    def release(self, bucket: str, *, keep_going: Any = None) -> tuple[int, bool]:
        """Send every due body of ``bucket`` back to the dispatch queue, then delete its items.

        Returns (released, finished); stops early (finished False) when ``keep_going()`` says so.
        """
        ddb = client("dynamodb")
        sqs = client("sqs")
        released = 0
        for shard in range(DUE_SHARDS):
            request = {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": to_item({":pk": f"DUE#{bucket}#{shard}"}),
                "ConsistentRead": True,
            }
            batch: list[dict[str, Any]] = []
            for item in query_all(request):
                batch.append(item)
                if len(batch) == 10:
                    released += self._flush(ddb, sqs, batch)
                    batch = []
                    if keep_going is not None and not keep_going():
                        return released, False
            if batch:
                released += self._flush(ddb, sqs, batch)
                if keep_going is not None and not keep_going() and shard < DUE_SHARDS - 1:
                    return released, False
        return released, True

    def _flush(self, ddb: Any, sqs: Any, batch: list[dict[str, Any]]) -> int:
        response = sqs.send_message_batch(
            QueueUrl=self.queue_url,
            Entries=[{"Id": str(i), "MessageBody": str(item["body"])} for i, item in enumerate(batch)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"dispatch queue refused {len(response['Failed'])} message(s)")
        ddb.batch_write_item(
            RequestItems={
                self.table_name: [
                    {"DeleteRequest": {"Key": to_item({"pk": item["pk"], "sk": item["sk"]})}}
                    for item in batch
                ]
            }
        )
        return len(batch)
