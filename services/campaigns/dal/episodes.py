"""Journey episodes and locks in CampaignsTable (the only boto3 user for them).

* episode: ``pk = EPISODE#<episode_id>``, ``sk = EPISODE``;
  ``gsi1pk = JOURNEY#<journey>``, ``gsi1sk = <started_at>#<episode_id>`` (newest first by journey)
* journey lock: ``pk = JOURNEY#<journey>#<member_id>``, ``sk = ACTIVE`` (one open episode per member)
* member's episode reference: ``pk = MEMBER#<member_id>``, ``sk = EPISODE#<episode_id>`` (erasure;
  and one member's episodes, newest first, for the 360° view's link)
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from services.campaigns.logic.churn_warning import OpenOutcome
from services.campaigns.logic.errors import InvalidNextToken
from services.campaigns.logic.journeys import EpisodePageResult
from services.campaigns.models.entities import Episode, Outcome
from shared import clock
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    batch_get_all,
    from_item,
    is_conditional_check_failed,
    put_op,
    to_item,
    transact_write,
)

_LOCK_INDEX, _EPISODE_INDEX = 0, 1
_TIMES = ("started_at", "ended_at", "last_purchase_at")


def episode_key(episode_id: str) -> dict[str, str]:
    return {"pk": f"EPISODE#{episode_id}", "sk": "EPISODE"}


def lock_key(journey: str, member_id: str) -> dict[str, str]:
    return {"pk": f"JOURNEY#{journey}#{member_id}", "sk": "ACTIVE"}


def member_episode_ref(episode: Episode) -> dict[str, Any]:
    """``MEMBER#<member_id>`` / ``EPISODE#<episode_id>``: erasure pseudonymises the member's episodes
    through these (Query on the member's partition) and deletes them."""
    return {
        "pk": f"MEMBER#{episode.member_id}",
        "sk": f"EPISODE#{episode.episode_id}",
        "entity": "member_episode_ref",
        "episode_id": episode.episode_id,
        "journey": episode.journey,
    }


def journey_partition(journey: str) -> str:
    return f"JOURNEY#{journey}"


def episode_item(episode: Episode) -> dict[str, Any]:
    values = episode.model_dump()
    for name in _TIMES:
        values[name] = clock.to_utc_iso(values[name]) if values[name] is not None else None
    return {
        **episode_key(episode.episode_id),
        "entity": "journey_episode",
        "gsi1pk": journey_partition(episode.journey),
        "gsi1sk": f"{values['started_at']}#{episode.episode_id}",
        **values,
    }


def episode_from_item(item: dict[str, Any]) -> Episode:
    return Episode.model_validate({name: item.get(name) for name in Episode.model_fields})


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(from_item(key), separators=(",", ":")).encode()).decode()


def decode_token(token: str, journey: str, member_id: str | None = None) -> dict[str, Any]:
    """The page key a token names: of the journey's index, or of the member's references when
    ``member_id`` is given; a token of another journey or member is refused."""
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidNextToken() from None
    if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
        raise InvalidNextToken()
    if member_id is None:
        valid = set(key) == {"pk", "sk", "gsi1pk", "gsi1sk"} and key["gsi1pk"] == journey_partition(journey)
    else:
        valid = set(key) == {"pk", "sk"} and key["pk"] == f"MEMBER#{member_id}"
    if not valid:
        raise InvalidNextToken()
    return to_item(key)


class DynamoEpisodeRepository:
    """Episodes, locks and the episode index on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def open(self, episode: Episode) -> OpenOutcome:
        lock = {
            **lock_key(episode.journey, episode.member_id),
            "entity": "journey_lock",
            "episode_id": episode.episode_id,
            "started_at": clock.to_utc_iso(episode.started_at),
        }
        try:
            transact_write(
                [
                    put_op(self.table_name, lock, condition="attribute_not_exists(pk)"),  # _LOCK_INDEX
                    put_op(self.table_name, episode_item(episode), condition="attribute_not_exists(pk)"),
                    # the member's reference to the episode, so erasure finds it without a scan
                    put_op(self.table_name, member_episode_ref(episode)),
                ]
            )
        except ConditionalCheckFailed as failed:
            lock_held = _LOCK_INDEX in failed.failed_indexes
            episode_exists = _EPISODE_INDEX in failed.failed_indexes
            if lock_held and episode_exists:
                return OpenOutcome.BOTH_EXIST
            return OpenOutcome.LOCK_HELD if lock_held else OpenOutcome.EPISODE_EXISTS
        return OpenOutcome.OPENED

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name, Key=to_item(key), ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def active_episode_id(self, journey: str, member_id: str) -> str | None:
        lock = self._get(lock_key(journey, member_id))
        return str(lock["episode_id"]) if lock else None

    def get(self, episode_id: str) -> Episode | None:
        item = self._get(episode_key(episode_id))
        return episode_from_item(item) if item else None

    def mark_observing(self, episode_id: str, execution_id: str) -> bool:
        try:
            client("dynamodb").update_item(
                TableName=self.table_name,
                Key=to_item(episode_key(episode_id)),
                UpdateExpression="SET #status = :observing, execution_id = :execution",
                ConditionExpression="attribute_exists(pk) AND #status IN (:starting, :observing)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_item(
                    {":observing": "observing", ":starting": "starting", ":execution": execution_id}
                ),
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    def close(
        self,
        episode: Episode,
        *,
        outcome: Outcome,
        ended_at: datetime,
        last_purchase_at: datetime | None,
        error: str | None,
    ) -> bool:
        values: dict[str, Any] = {
            ":status": "failed" if outcome == "failed" else "completed",
            ":outcome": outcome,
            ":ended_at": clock.to_utc_iso(ended_at),
        }
        sets = ["#status = :status", "outcome = :outcome", "ended_at = :ended_at"]
        if last_purchase_at is not None:
            values[":last_purchase_at"] = clock.to_utc_iso(last_purchase_at)
            sets.append("last_purchase_at = :last_purchase_at")
        if error is not None:
            values[":error"] = error[:256]
            sets.append("#error = :error")
        names = {"#status": "status"} | ({"#error": "error"} if error is not None else {})
        update = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item(episode_key(episode.episode_id)),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(outcome)",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }
        release = {
            "Delete": {
                "TableName": self.table_name,
                "Key": to_item(lock_key(episode.journey, episode.member_id)),
                "ConditionExpression": "attribute_not_exists(pk) OR episode_id = :episode",
                "ExpressionAttributeValues": to_item({":episode": episode.episode_id}),
            }
        }
        try:
            transact_write([update, release])
        except ConditionalCheckFailed as failed:
            if failed.failed_indexes == (0,):
                return False
            raise
        return True

    def newest_first(self, journey: str, limit: int, next_token: str | None) -> EpisodePageResult:
        items, token = journey_page(self.table_name, journey, limit, next_token)
        return EpisodePageResult(episodes=[episode_from_item(item) for item in items], next_token=token)

    def member_newest_first(
        self, journey: str, member_id: str, limit: int, next_token: str | None
    ) -> EpisodePageResult:
        """A page of one member's episodes of the journey, newest first (:func:`member_page`)."""
        items, token = member_page(self.table_name, journey, member_id, limit, next_token)
        found = [episode_from_item(item) for item in items]
        found.sort(key=lambda episode: (episode.started_at, episode.episode_id), reverse=True)
        return EpisodePageResult(episodes=found, next_token=token)


def journey_page(
    table_name: str, journey: str, limit: int, next_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a journey's items (episodes or occurrences), newest first, from its gsi1
    partition: the items and the next page's token."""
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :journey",
        "ExpressionAttributeValues": to_item({":journey": journey_partition(journey)}),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if next_token:
        kwargs["ExclusiveStartKey"] = decode_token(next_token, journey)
    page = client("dynamodb").query(**kwargs)
    last_key = page.get("LastEvaluatedKey")
    return [from_item(item) for item in page.get("Items", [])], encode_token(last_key) if last_key else None


def member_page(
    table_name: str, journey: str, member_id: str, limit: int, next_token: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of one member's items of a journey: the member's references (a Query on
    ``MEMBER#<member_id>``, filtered on the journey, so a page may hold fewer than ``limit``), then
    the items they name in one BatchGetItem (in no particular order), and the next page's token."""
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :episode)",
        "FilterExpression": "journey = :journey",
        "ExpressionAttributeValues": to_item(
            {":pk": f"MEMBER#{member_id}", ":episode": "EPISODE#", ":journey": journey}
        ),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if next_token:
        kwargs["ExclusiveStartKey"] = decode_token(next_token, journey, member_id)
    page = client("dynamodb").query(**kwargs)
    keys = [episode_key(str(from_item(item)["episode_id"])) for item in page.get("Items", [])]
    last_key = page.get("LastEvaluatedKey")
    return batch_get_all(table_name, keys), encode_token(last_key) if last_key else None
