"""Behaviour statistics and profile scores in MembersTable (the only boto3 user for them).

| item                 | pk                   | sk          | gsi1pk / gsi1sk                  |
|----------------------|----------------------|-------------|----------------------------------|
| statistics + score   | ``MEMBER#<id>``      | ``STATS``   | ``STATS#<shard 00-15>`` / ``<id>`` |
| consumer marker      | ``EVENT#<event_id>`` | ``CONSUMER#<consumer>`` (ttl, shared.dynamo) | |
| outbox               | ``OUTBOX#<event_id>``| ``OUTBOX`` (ttl, shared.outbox) | |
| tag rule             | ``TAGRULES``         | ``TAG#<tag_id>`` | |

The statistics item carries the last score in its ``score`` map: the nightly job reads both with
one Query per shard page, and the purchase consumer never touches ``score`` (it updates named
attributes), so the two writers cannot overwrite each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from services.members.dal.tag_rules import (  # noqa: F401 - re-exported (older imports)
    TAG_RULES_PK,
    DynamoTagRuleRepository,
    tag_rule_from_item,
    tag_rule_item,
)
from services.members.logic.behaviour import SaveOutcome
from services.members.logic.scoring import ScoredEvent
from services.members.logic.tags import TagRule
from services.members.models.entities import BehaviourStats, ProfileScore
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    idempotency_put,
    is_conditional_check_failed,
    put_op,
    query_all,
    to_item,
    transact_write,
)
from shared.outbox import outbox_item

STATS_SHARDS = 16
"""Write-sharding of gsi1 for the nightly job. Changing it needs a backfill of gsi1pk."""
STATS_CONSUMER = "members.on_purchase_recorded"
ACTIVITY_CONSUMER = "members.on_activity"
_STATS_INDEX, _MARKER_INDEX = 0, 1


def stats_key(member_id: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": "STATS"}


def shard_of(member_id: str) -> int:
    return int(hashlib.sha256(member_id.encode("utf-8")).hexdigest()[:8], 16) % STATS_SHARDS


def shard_key(shard: int) -> str:
    return f"STATS#{shard:02d}"


def _iso(moment: Any) -> str | None:
    return clock.to_utc_iso(moment) if moment else None


def _bucket(count: int, spend_cents: int, parking_count: int, parking_minutes: int) -> dict[str, int]:
    bucket = {"count": count, "spend_cents": spend_cents}
    if parking_count or parking_minutes:  # parking fields only where there was parking: smaller items
        bucket |= {"parking_count": parking_count, "parking_minutes": parking_minutes}
    return bucket


def _stats_attributes(stats: BehaviourStats) -> dict[str, Any]:
    """The statistics as plain attributes (``None`` for the times a refund-only member lacks)."""
    return {
        "entity": "member_stats",
        "member_id": stats.member_id,
        "gsi1pk": shard_key(shard_of(stats.member_id)),
        "gsi1sk": stats.member_id,
        "first_purchase_at": clock.to_utc_iso(stats.first_purchase_at) if stats.first_purchase_at else None,
        "last_purchase_at": clock.to_utc_iso(stats.last_purchase_at) if stats.last_purchase_at else None,
        "purchase_count": stats.purchase_count,
        "spend_cents": stats.spend_cents,
        "refund_count": stats.refund_count,
        "refunded_cents": stats.refunded_cents,
        "days": {
            day.isoformat(): _bucket(b.count, b.spend_cents, b.parking_count, b.parking_minutes)
            for day, b in stats.days.items()
        },
        "category_spend_cents": dict(stats.category_spend_cents),
        "store_purchase_count": dict(stats.store_purchase_count),
        "parking_sessions": stats.parking_sessions,
        "parking_minutes": stats.parking_minutes,
        "parking_weekend_sessions": stats.parking_weekend_sessions,
        "parking_weekend_minutes": stats.parking_weekend_minutes,
        "last_parking_at": _iso(stats.last_parking_at),
        "tickets_resolved": stats.tickets_resolved,
        "complaint_count": stats.complaint_count,
        "last_complaint_at": _iso(stats.last_complaint_at),
        "last_csat": stats.last_csat,
        "last_csat_at": _iso(stats.last_csat_at),
    }


def stats_from_item(item: dict[str, Any]) -> BehaviourStats:
    return BehaviourStats.model_validate(
        {
            "member_id": item["member_id"],
            "first_purchase_at": item.get("first_purchase_at"),
            "last_purchase_at": item.get("last_purchase_at"),
            "purchase_count": item.get("purchase_count", 0),
            "spend_cents": item.get("spend_cents", 0),
            "refund_count": item.get("refund_count", 0),
            "refunded_cents": item.get("refunded_cents", 0),
            "days": item.get("days", {}),
            "category_spend_cents": item.get("category_spend_cents", {}),
            "store_purchase_count": item.get("store_purchase_count", {}),
            "parking_sessions": item.get("parking_sessions", 0),
            "parking_minutes": item.get("parking_minutes", 0),
            "parking_weekend_sessions": item.get("parking_weekend_sessions", 0),
            "parking_weekend_minutes": item.get("parking_weekend_minutes", 0),
            "last_parking_at": item.get("last_parking_at"),
            "tickets_resolved": item.get("tickets_resolved", 0),
            "complaint_count": item.get("complaint_count", 0),
            "last_complaint_at": item.get("last_complaint_at"),
            "last_csat": item.get("last_csat"),
            "last_csat_at": item.get("last_csat_at"),
            "erased": bool(item.get("member_erased", False)),
            "version": item.get("version", 0),
        }
    )


def _no_floats(value: Any) -> Any:
    """DynamoDB numbers: floats become Decimals of their shortest text (shared.dynamo refuses floats)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _no_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_floats(v) for v in value]
    return value


def score_attribute(current: ProfileScore) -> dict[str, Any]:
    values = current.model_dump(mode="json")
    values["scored_at"] = clock.to_utc_iso(current.scored_at)
    return dict(_no_floats(values))


def score_from_attribute(value: dict[str, Any] | None) -> ProfileScore | None:
    """The stored score; a score stored under older rules (other segment names) reads as none, so
    the first score under the new rules counts as a change and is published."""
    if not value:
        return None
    try:
        return ProfileScore.model_validate(value)
    except ValidationError:
        return None


class DynamoStatsRepository:
    """:class:`~services.members.logic.behaviour.StatsRepository` on DynamoDB."""

    def __init__(self, table_name: str, consumer: str = STATS_CONSUMER) -> None:
        self.table_name = table_name
        self.consumer = consumer

    def get(self, member_id: str) -> BehaviourStats | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name, Key=to_item(stats_key(member_id)), ConsistentRead=True
        )
        item = response.get("Item")
        return stats_from_item(from_item(item)) if item else None

    def save(self, stats: BehaviourStats, *, expected_version: int, event_id: str) -> SaveOutcome:
        attributes = _stats_attributes(stats)
        attributes["version"] = expected_version + 1
        attributes["updated_at"] = clock.to_utc_iso(clock.now())
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        sets = [f"#a{i} = :a{i}" for i, (name, value) in enumerate(attributes.items()) if value is not None]
        removes = [f"#a{i}" for i, (name, value) in enumerate(attributes.items()) if value is None]
        values: dict[str, Any] = {f":a{i}": v for i, v in enumerate(attributes.values()) if v is not None}
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        if expected_version == 0:
            condition = "attribute_not_exists(pk)"
        else:
            condition = "#version = :expected"
            names["#version"] = "version"
            values[":expected"] = expected_version
        update = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(stats_key(stats.member_id)),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }
        try:
            transact_write([update, idempotency_put(self.table_name, event_id, self.consumer)])
        except ConditionalCheckFailed as failed:
            if _MARKER_INDEX in failed.failed_indexes:
                return SaveOutcome.DUPLICATE
            if _STATS_INDEX in failed.failed_indexes:
                return SaveOutcome.VERSION_CONFLICT
            raise
        return SaveOutcome.SAVED


class DynamoScoringRepository:
    """:class:`~services.members.logic.scoring.ScoringRepository` on DynamoDB (gsi1, sharded)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def shards(self) -> Sequence[int]:
        return range(STATS_SHARDS)

    def tag_rules(self) -> list[TagRule]:
        return DynamoTagRuleRepository(self.table_name).list()

    def statistics(self, shard: int) -> Iterator[tuple[BehaviourStats, ProfileScore | None]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :shard",
            "ExpressionAttributeValues": to_item({":shard": shard_key(shard)}),
        }
        for item in query_all(kwargs):
            stored = item.get("score")
            if stored:  # the why is not needed to compare and takes most of a score's memory
                stored = {k: v for k, v in stored.items() if k != "why"}
            yield stats_from_item(item), score_from_attribute(stored)

    def save_score(
        self,
        member_id: str,
        current: ProfileScore,
        previous: ProfileScore | None,
        event: ScoredEvent | None,
    ) -> bool:
        values: dict[str, Any] = {":score": score_attribute(current)}
        if previous is None:
            condition = "attribute_exists(pk) AND attribute_not_exists(score)"
        else:
            condition = "attribute_exists(pk) AND score.scored_at = :previous"
            values[":previous"] = clock.to_utc_iso(previous.scored_at)
        update = {
            "TableName": self.table_name,
            "Key": to_item(stats_key(member_id)),
            "UpdateExpression": "SET score = :score",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
        }
        try:
            if event is None:
                client("dynamodb").update_item(**update)
            else:
                record = outbox_item(
                    event.event, correlation_id=event.correlation_id, producer=event.producer, now=event.at
                )
                transact_write(
                    [
                        {"Update": update},
                        put_op(self.table_name, record, condition="attribute_not_exists(pk)"),
                    ]
                )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True
