"""The last 8 days' erasures, by campaigns' pseudonym, for launches (logic/recent_erasures.py).

| item           | pk           | sk                                   | attributes                     |
|----------------|--------------|--------------------------------------|--------------------------------|
| recent erasure | ``ERASURES`` | ``<erased_at, UTC ISO>#<pseudonym>`` | ``pseudonym``, ttl (+ 8 days)  |

One partition: erasures are rare (a few a day) and the launch worker reads them all, one
consistent Query per page of 5,000 members. 8 days outlive every audience snapshot (7-day
lifecycle). The pseudonym is the one the tombstone ``ERASED#<pseudonym>`` already holds: this item
adds no identifier campaigns did not keep already.

**Launches holding buckets** (``LAUNCHING`` / ``<campaign_id>``, ``buckets``, ttl = the buckets'
own): a launch registers itself *before* it writes its assignment buckets, and the erasure
(``DynamoAttributionRepository.forget_member``) takes the member out of the buckets of every
registered launch — so a member erased while a launch runs, before it enters ``LAUNCHES`` at its
end, does not stay in its buckets until their TTL. With the launch's second look at ``ERASURES``
after its bucket writes (logic/recent_erasures.py) one of the two always sees the other: the
launch writes ``LAUNCHING`` then reads ``ERASURES``; the erasure writes ``ERASURES`` then reads
``LAUNCHING`` (both consistent).

| item               | pk            | sk                | attributes                                  |
|--------------------|---------------|-------------------|---------------------------------------------|
| launch with buckets | ``LAUNCHING`` | ``<campaign_id>`` | ``campaign_id``, ``buckets``, ttl (the buckets') |
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import clock
from shared.aws import client
from shared.dynamo import query_all, to_item

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.campaigns.logic.recent_erasures import RecentErasures

__all__ = [
    "KEEP",
    "LAUNCHING_PK",
    "RECENT_ERASURES_PK",
    "DynamoLaunchErasures",
    "DynamoRecentErasures",
    "launches_holding_buckets",
    "recent_erasure_item",
    "recent_erasures",
]

RECENT_ERASURES_PK = "ERASURES"
LAUNCHING_PK = "LAUNCHING"
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


def launches_holding_buckets(table_name: str) -> list[tuple[str, int]]:
    """(campaign id, bucket count) of every launch whose assignment buckets may still exist (one
    consistent Query; expired registrations are filtered as DynamoDB may not have deleted them)."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": to_item({":pk": LAUNCHING_PK}),
        "ProjectionExpression": "campaign_id, buckets, #ttl",
        "ExpressionAttributeNames": {"#ttl": "ttl"},
        "ConsistentRead": True,
    }
    now = clock.epoch_seconds(clock.now())
    return [
        (str(i["campaign_id"]), int(i["buckets"]))
        for i in query_all(request, client=client("dynamodb"))
        if int(i.get("ttl") or now) >= now
    ]


class DynamoLaunchErasures:
    """The launch worker's side (logic/recent_erasures.py ``LaunchErasures``)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def register_launch(self, campaign_id: str, buckets: int, buckets_expire_at: datetime) -> None:
        client("dynamodb").put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "pk": LAUNCHING_PK,
                    "sk": campaign_id,
                    "entity": "launch_with_buckets",
                    "campaign_id": campaign_id,
                    "buckets": buckets,
                    "ttl": clock.epoch_seconds(buckets_expire_at),
                }
            ),
        )

    def forget_in_launch(self, campaign_id: str, buckets: int, member_id: str) -> bool:
        # The bucket's optimistic edit lives with attribution (the buckets' reader); imported here
        # so the privacy consumer's consent path does not load it.
        from services.campaigns.dal.attribution import DynamoAttributionRepository  # noqa: PLC0415

        return DynamoAttributionRepository(self.table_name).forget_in_launch(campaign_id, buckets, member_id)


def recent_erasures(table_name: str, pseudonym_key_secret_arn: str | None) -> RecentErasures:
    """The recent-erasures check for the launch worker and dispatch: the set is read from this
    table; the pseudonym key only while the set is not empty (and then it is required)."""
    from services.campaigns.logic.recent_erasures import RecentErasures  # noqa: PLC0415

    def pseudonymiser() -> Callable[[str], str]:
        from services.campaigns.dal.privacy import pseudonym_key  # noqa: PLC0415
        from services.campaigns.logic.privacy import pseudonym  # noqa: PLC0415

        if not pseudonym_key_secret_arn:
            raise RuntimeError("PSEUDONYM_KEY_SECRET_ARN is not set: erased members cannot be left out")
        key = pseudonym_key(pseudonym_key_secret_arn)
        return lambda member_id: pseudonym(key, member_id)

    return RecentErasures(DynamoRecentErasures(table_name).pseudonyms, pseudonymiser)
