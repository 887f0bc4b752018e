"""Segments, campaigns, launches and assignments on CampaignsTable (the only boto3 user for them).

Items:

* segment: ``SEGMENT#<id>`` / ``SEGMENT``; gsi1 ``SEGMENTS`` / ``<created_at>#<id>``;
* campaign: ``CAMPAIGN#<id>`` / ``CAMPAIGN`` — the definition (JSON) and status, launched_at,
  snapshot_id, launch_cursor; gsi1 ``CAMPAIGNS`` / ``<created_at>#<id>``;
* arm counters: ``CAMPAIGN#<id>`` / ``STATS#<arm>`` — ``assigned`` (+ dispatch's ``sent`` ...,
  attribution's ``converted`` ...);
* cancelled marker: ``CAMPAIGN#<id>`` / ``CANCELLED`` — written with the status ``cancelled``;
  dispatch and the launch worker read it (a missing item = not cancelled);
* arrivals counters: ``ARRIVALS#<campaign>#<shard>`` / ``ARRIVALS`` (triggered campaigns: the n-th
  member of that shard gets the n-th slot of the shard's dealing, ``dal/triggers.py``);
* trigger index: ``TRIGGER#<event>`` / ``CAMPAIGN#<id>`` — active triggered campaigns, definition copied;
* assignment bucket (launches): ``ASSIGN#<campaign>#<bucket>`` / ``ASSIGN`` — ``arms``: arm →
  comma-separated member ids (~400 members per bucket); ttl after the attribution window;
* launch index: ``LAUNCHES`` / ``<launched_at>#<campaign>`` — buckets, attribution_until, ttl;
* assignment (triggered campaigns): ``MEMBER#<member_id>`` / ``ASSIGN#<campaign>#<key>`` — arm,
  assigned_at, attribution_until;
* converted marker: ``CONVERTED#<campaign>#<member_id>`` / ``CONVERTED`` (first purchase counted).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.campaigns.logic.planning_errors import (
    CampaignChanged,
    CampaignNotEditable,
    CampaignNotLaunchable,
)
from services.campaigns.models.campaigns import Campaign, Segment
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    put_op,
    to_item,
    transact_write,
)
from shared.outbox import outbox_item

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.events.contracts import CampaignLaunched

PRODUCER = "campaigns"
MAX_BATCH_WRITE = 25


def campaign_key(campaign_id: str) -> dict[str, str]:
    return {"pk": f"CAMPAIGN#{campaign_id}", "sk": "CAMPAIGN"}


def cancelled_key(campaign_id: str) -> dict[str, str]:
    """The campaign status item dispatch reads before sending a campaign's message: it exists
    only once the campaign is cancelled (small, so the read costs half a read unit)."""
    return {"pk": f"CAMPAIGN#{campaign_id}", "sk": "CANCELLED"}


def _marker_exists(table_name: str, campaign_id: str) -> bool:
    item = client("dynamodb").get_item(
        TableName=table_name,
        Key=to_item(cancelled_key(campaign_id)),
        ConsistentRead=True,
        ProjectionExpression="pk",
    )
    return "Item" in item


def stats_key(campaign_id: str, arm: str) -> dict[str, str]:
    return {"pk": f"CAMPAIGN#{campaign_id}", "sk": f"STATS#{arm}"}


LAUNCHES_PK = "LAUNCHES"
"""Launched one-off and scheduled campaigns by launch time (attribution finds recent ones)."""


def bucket_pk(campaign_id: str, bucket: int) -> str:
    return f"ASSIGN#{campaign_id}#{bucket:05d}"


def assignment_sk(campaign_id: str, key: str | None = None) -> str:
    return f"ASSIGN#{campaign_id}" + (f"#{key}" if key else "")


class DynamoSegmentRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def put(self, segment: Segment) -> None:
        at = clock.to_utc_iso(segment.created_at)
        client("dynamodb").put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": f"SEGMENT#{segment.segment_id}",
                    "sk": "SEGMENT",
                    "entity": "segment",
                    "segment_id": segment.segment_id,
                    "name": segment.name,
                    "description": segment.description,
                    "rule": json.dumps(segment.rule, separators=(",", ":")),
                    "created_at": at,
                    "created_by": segment.created_by,
                    "gsi1pk": "SEGMENTS",
                    "gsi1sk": f"{at}#{segment.segment_id}",
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    @staticmethod
    def _segment(item: dict[str, Any]) -> Segment:
        return Segment(
            segment_id=item["segment_id"],
            name=item["name"],
            description=item.get("description", ""),
            rule=json.loads(item["rule"]),
            created_at=clock.parse_iso(item["created_at"]),
            created_by=item["created_by"],
        )

    def get(self, segment_id: str) -> Segment | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table_name, Key=to_item({"pk": f"SEGMENT#{segment_id}", "sk": "SEGMENT"})
            )
            .get("Item")
        )
        return self._segment(from_item(item)) if item else None

    def list_page(
        self, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[Segment], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": "SEGMENTS"}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client("dynamodb").query(**kwargs)
        return [self._segment(from_item(i)) for i in page.get("Items", [])], page.get("LastEvaluatedKey")


class DynamoCampaignRepository:
    """Campaign definitions and lifecycle; also the launch store and the trigger index."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    # --- definitions ---------------------------------------------------------------------------

    def _item(self, campaign: Campaign) -> dict[str, Any]:
        at = clock.to_utc_iso(campaign.created_at)
        return {
            **campaign_key(campaign.campaign_id),
            "entity": "campaign",
            "campaign_id": campaign.campaign_id,
            "definition": campaign.model_dump_json(),
            "status": campaign.status,
            "revision": campaign.revision,
            "gsi1pk": "CAMPAIGNS",
            "gsi1sk": f"{at}#{campaign.campaign_id}",
        }

    @staticmethod
    def _campaign(item: dict[str, Any]) -> Campaign:
        campaign = Campaign.model_validate_json(item["definition"])
        return campaign.model_copy(
            update={
                "status": item["status"],
                "launched_at": clock.parse_iso(item["launched_at"]) if item.get("launched_at") else None,
                "snapshot_id": item.get("snapshot_id"),
                "cancelled_at": clock.parse_iso(item["cancelled_at"]) if item.get("cancelled_at") else None,
                "cancelled_by": item.get("cancelled_by"),
            }
        )

    def create(self, campaign: Campaign) -> None:
        client("dynamodb").put_item(
            TableName=self.table_name,
            Item=to_item(self._item(campaign)),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, campaign_id: str) -> Campaign | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table_name, Key=to_item(campaign_key(campaign_id)), ConsistentRead=True)
            .get("Item")
        )
        return self._campaign(from_item(item)) if item else None

    def get_with_cursor(self, campaign_id: str) -> tuple[Campaign, int] | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table_name, Key=to_item(campaign_key(campaign_id)), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            return None
        plain = from_item(item)
        return self._campaign(plain), int(plain.get("launch_cursor", 0))

    def list_page(
        self, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[Campaign], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": "CAMPAIGNS"}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client("dynamodb").query(**kwargs)
        return [self._campaign(from_item(i)) for i in page.get("Items", [])], page.get("LastEvaluatedKey")

    # --- lifecycle -----------------------------------------------------------------------------

    def replace_draft(self, campaign: Campaign, *, expected_revision: int) -> None:
        """The edited definition replaces the draft's item (a draft has nothing else on it)."""
        try:
            client("dynamodb").put_item(
                TableName=self.table_name,
                Item=to_item(self._item(campaign)),
                ConditionExpression=(
                    "#status = :draft AND (attribute_not_exists(revision) OR revision = :rev)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item({":draft": "draft", ":rev": expected_revision}),
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise
            current = self.get(campaign.campaign_id)
            if current is None or current.status != "draft":
                raise CampaignNotEditable() from exc
            raise CampaignChanged() from exc

    def cancel(self, campaign: Campaign, *, cancelled_by: str, now: datetime) -> Campaign:
        """One transaction: status (condition: still what was read) → cancelled, the marker
        dispatch reads (``CAMPAIGN#<id>`` / ``CANCELLED``), and a triggered campaign's trigger
        index item deleted."""
        at = clock.to_utc_iso(now)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(campaign_key(campaign.campaign_id)),
                    "UpdateExpression": "SET #status = :cancelled, cancelled_at = :at, cancelled_by = :by",
                    "ConditionExpression": "#status = :was",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item(
                        {":cancelled": "cancelled", ":at": at, ":by": cancelled_by, ":was": campaign.status}
                    ),
                }
            },
            put_op(
                self.table_name,
                {
                    **cancelled_key(campaign.campaign_id),
                    "entity": "campaign_cancelled",
                    "campaign_id": campaign.campaign_id,
                    "cancelled_at": at,
                },
            ),
        ]
        if campaign.trigger is not None:
            items.append(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": to_item(
                            {
                                "pk": f"TRIGGER#{campaign.trigger.event}",
                                "sk": f"CAMPAIGN#{campaign.campaign_id}",
                            }
                        ),
                    }
                }
            )
        try:
            transact_write(items)
        except ConditionalCheckFailed as failed:
            raise CampaignChanged() from failed
        return campaign.model_copy(
            update={"status": "cancelled", "cancelled_at": now, "cancelled_by": cancelled_by}
        )

    def is_cancelled(self, campaign_id: str) -> bool:
        """The launch worker, before each page: one small consistent GetItem of the marker."""
        return _marker_exists(self.table_name, campaign_id)

    def start_launch(self, campaign_id: str, now: datetime) -> Campaign:
        try:
            response = client("dynamodb").update_item(
                TableName=self.table_name,
                Key=to_item(campaign_key(campaign_id)),
                UpdateExpression="SET #status = :launching, launched_at = :now, launch_cursor = :zero",
                ConditionExpression="#status IN (:draft, :scheduled)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item(
                    {
                        ":launching": "launching",
                        ":now": clock.to_utc_iso(now),
                        ":zero": 0,
                        ":draft": "draft",
                        ":scheduled": "scheduled",
                    }
                ),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                raise CampaignNotLaunchable() from exc
            raise
        return self._campaign(from_item(response["Attributes"]))

    def set_snapshot(self, campaign_id: str, snapshot_id: str) -> str:
        """Fix the snapshot a launch evaluates (the first writer wins); the one fixed."""
        response = client("dynamodb").update_item(
            TableName=self.table_name,
            Key=to_item(campaign_key(campaign_id)),
            UpdateExpression="SET snapshot_id = if_not_exists(snapshot_id, :s)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=to_item({":s": snapshot_id}),
            ReturnValues="ALL_NEW",
        )
        return str(from_item(response["Attributes"])["snapshot_id"])

    def activate(self, campaign: Campaign, now: datetime, launched_event: CampaignLaunched) -> Campaign:
        assert campaign.trigger is not None
        active = campaign.model_copy(update={"status": "active", "launched_at": now})
        update = {
            "TableName": self.table_name,
            "Key": to_item(campaign_key(campaign.campaign_id)),
            "UpdateExpression": "SET #status = :active, launched_at = :now",
            "ConditionExpression": "#status = :draft",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item(
                {":active": "active", ":now": clock.to_utc_iso(now), ":draft": "draft"}
            ),
        }
        index = {
            "pk": f"TRIGGER#{campaign.trigger.event}",
            "sk": f"CAMPAIGN#{campaign.campaign_id}",
            "entity": "campaign_trigger",
            "campaign_id": campaign.campaign_id,
            "definition": active.model_dump_json(),
        }
        try:
            transact_write(
                [
                    {"Update": update},
                    put_op(self.table_name, index),
                    put_op(
                        self.table_name,
                        outbox_item(
                            launched_event, correlation_id=campaign.campaign_id, producer=PRODUCER, now=now
                        ),
                        condition="attribute_not_exists(pk)",
                    ),
                ]
            )
        except ConditionalCheckFailed as failed:
            raise CampaignNotLaunchable() from failed
        return active

    def active_for_trigger(self, event: str) -> list[Campaign]:
        page = client("dynamodb").query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues=to_item({":pk": f"TRIGGER#{event}", ":c": "CAMPAIGN#"}),
        )
        return [Campaign.model_validate_json(from_item(i)["definition"]) for i in page.get("Items", [])]

    # --- launch store --------------------------------------------------------------------------

    def put_assignment_buckets(
        self, campaign: Campaign, buckets: Mapping[int, Mapping[str, Sequence[str]]], at: datetime
    ) -> None:
        """One item per bucket, written in the wire format directly (a million ids through the
        type serialiser would cost more than the writes). They expire two days after the
        attribution window (``ttl``): member ids are kept no longer than attribution needs them."""
        until = at + timedelta(days=campaign.attribution_days)
        common = {
            "entity": {"S": "campaign_assignment_bucket"},
            "campaign_id": {"S": campaign.campaign_id},
            "assigned_at": {"S": clock.to_utc_iso(at)},
            "attribution_until": {"S": clock.to_utc_iso(until)},
            "ttl": {"N": str(clock.epoch_seconds(until + timedelta(days=2)))},
        }
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": bucket_pk(campaign.campaign_id, bucket)},
                        "sk": {"S": "ASSIGN"},
                        "bucket": {"N": str(bucket)},
                        "arms": {"M": {arm: {"S": ",".join(ids)} for arm, ids in arms.items()}},
                        **common,
                    }
                }
            }
            for bucket, arms in sorted(buckets.items())
        ]
        batch_write(self.table_name, requests)

    def save_cursor(self, campaign_id: str, cursor: int) -> None:
        client("dynamodb").update_item(
            TableName=self.table_name,
            Key=to_item(campaign_key(campaign_id)),
            UpdateExpression="SET launch_cursor = :c",
            ExpressionAttributeValues=to_item({":c": cursor}),
        )

    def close_cancelled_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], buckets: int, at: datetime
    ) -> bool:
        """A launch stopped by a cancellation still enters the launch index (with its arms'
        counters), so attribution, erasure and data exports find the assignment buckets it
        wrote; no ``CampaignLaunched``. Once (the ``launch_closed_at`` marker on the campaign)."""
        launched = clock.to_utc_iso(at)
        until = at + timedelta(days=campaign.attribution_days)
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(campaign_key(campaign.campaign_id)),
                    "UpdateExpression": "SET launch_closed_at = :now",
                    "ConditionExpression": "#status = :cancelled AND attribute_not_exists(launch_closed_at)",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item(
                        {":now": clock.to_utc_iso(clock.now()), ":cancelled": "cancelled"}
                    ),
                }
            },
            put_op(self.table_name, self._launch_index_item(campaign, buckets, launched, until)),
            *self._assigned_updates(campaign, arm_counts),
        ]
        try:
            transact_write(items)
        except ConditionalCheckFailed:
            return False
        return True

    def _launch_index_item(
        self, campaign: Campaign, buckets: int, launched: str, until: datetime
    ) -> dict[str, Any]:
        return {
            "pk": LAUNCHES_PK,
            "sk": f"{launched}#{campaign.campaign_id}",
            "entity": "campaign_launch",
            "campaign_id": campaign.campaign_id,
            "buckets": buckets,
            "launched_at": launched,
            "attribution_until": clock.to_utc_iso(until),
            "ttl": clock.epoch_seconds(until + timedelta(days=2)),
        }

    def _assigned_updates(self, campaign: Campaign, arm_counts: dict[str, int]) -> list[dict[str, Any]]:
        return [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(stats_key(campaign.campaign_id, arm)),
                    "UpdateExpression": "ADD assigned :n",
                    "ExpressionAttributeValues": to_item({":n": n}),
                }
            }
            for arm, n in sorted(arm_counts.items())
        ]

    def finish_launch(
        self, campaign: Campaign, arm_counts: dict[str, int], event: CampaignLaunched, buckets: int
    ) -> bool:
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item(campaign_key(campaign.campaign_id)),
                    "UpdateExpression": "SET #status = :launched, audience = :audience, queued = :queued",
                    "ConditionExpression": "#status = :launching",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item(
                        {
                            ":launched": "launched",
                            ":launching": "launching",
                            ":audience": event.audience,
                            ":queued": event.queued,
                        }
                    ),
                }
            },
            put_op(
                self.table_name,
                outbox_item(
                    event, correlation_id=campaign.campaign_id, producer=PRODUCER, now=event.launched_at
                ),
                condition="attribute_not_exists(pk)",
            ),
        ]
        launched = clock.to_utc_iso(event.launched_at)
        until = event.launched_at + timedelta(days=campaign.attribution_days)
        items.append(put_op(self.table_name, self._launch_index_item(campaign, buckets, launched, until)))
        items += self._assigned_updates(campaign, arm_counts)
        try:
            transact_write(items)
        except ConditionalCheckFailed:
            return False
        return True


def batch_write(table_name: str, requests: Sequence[dict[str, Any]], attempts: int = 8) -> None:
    """BatchWriteItem in 25s, re-sending unprocessed items (throttling) with a short backoff."""
    ddb = client("dynamodb")
    for start in range(0, len(requests), MAX_BATCH_WRITE):
        pending: list[dict[str, Any]] = list(requests[start : start + MAX_BATCH_WRITE])
        for attempt in range(attempts):
            response = ddb.batch_write_item(RequestItems={table_name: pending})
            pending = response.get("UnprocessedItems", {}).get(table_name, [])
            if not pending:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
        else:
            raise RuntimeError(
                f"{len(pending)} assignment writes still unprocessed after {attempts} attempts"
            )
