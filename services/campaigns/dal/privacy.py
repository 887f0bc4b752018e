"""The consent projection, erasure and campaigns' pseudonym key (the only boto3 user for them).

| item                  | pk                     | sk                                  |
|-----------------------|------------------------|-------------------------------------|
| consent projection    | ``MEMBER#<member_id>`` | ``CONSENT#<purpose>[#<channel>]``   |
| consent summary       | ``MEMBER#<member_id>`` | ``CONSENTS`` (rebuilt from the above)  |
| erased tombstone      | ``ERASED#<pseudonym>`` | ``ERASED``                          |
| recent erasure        | ``ERASURES``           | ``<erased_at>#<pseudonym>`` (dal/recent_erasures) |
| (erasure also touches) ``MEMBER#<id>`` / ``LAST_PURCHASE`` and ``EPISODE#<id>`` refs, episodes, locks |
| (and the message journeys' occurrences, ``EPISODE#<id>``: outcome copied from the send, pseudonymised) |
| (and the export parts named by ``MEMBER#<id>`` / ``EXPORT#<export_id>`` pointers, in S3)             |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.campaigns.dal.audience_keys import audience_keys
from services.campaigns.dal.recent_erasures import recent_erasure_item
from services.campaigns.logic.privacy import ConsentFact, ErasureResult, ProjectOutcome
from shared import clock
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
from shared.secrets import secret_bytes

_TOMBSTONE_INDEX, _CONSENT_INDEX = 0, 1
CONSENT_SUMMARY_SK = "CONSENTS"  # dal/dispatch.py reads it (a test holds the two equal)
SUMMARY_ATTEMPTS = 5  # rebuilds that lost to another writer before the event is failed and retried
_MESSAGE_JOURNEYS = frozenset({"birthday", "points_expiring"})  # logic/journeys.py (held equal by a test)


def pseudonym_key(secret_id: str, max_age_seconds: float = 300) -> bytes:
    """Campaigns' HMAC key for pseudonyms (Secrets Manager), cached per container for 5 minutes."""
    value = secret_bytes(secret_id, max_age_seconds)
    if len(value) < 32:
        raise ValueError("the pseudonym key must be at least 32 characters")
    return value


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def consent_sk(purpose: str, channel: str | None) -> str:
    return f"CONSENT#{purpose}" + (f"#{channel}" if channel else "")


def tombstone_key(pseudonym: str) -> dict[str, str]:
    return {"pk": f"ERASED#{pseudonym}", "sk": "ERASED"}


def consent_summary_key(member_id: str) -> dict[str, str]:
    return {"pk": member_pk(member_id), "sk": CONSENT_SUMMARY_SK}


def summary_decisions(items: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    """The consent summary's ``consents`` map from the member's consent items (plain)."""
    return {str(i["sk"]).removeprefix("CONSENT#"): i.get("granted") is True for i in items}


def _tombstone_check(table_name: str, erased_marker: str) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table_name,
            "Key": to_item(tombstone_key(erased_marker)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


class DynamoConsentProjection:
    """:class:`~services.campaigns.logic.privacy.ConsentProjectionRepository` on DynamoDB."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def store_if_newer(self, fact: ConsentFact, erased_marker: str) -> ProjectOutcome:
        at = clock.to_utc_iso(fact.changed_at)
        item = {
            "pk": member_pk(fact.member_id),
            "sk": consent_sk(fact.purpose, fact.channel),
            "entity": "consent_projection",
            "member_id": fact.member_id,
            "purpose": fact.purpose,
            "channel": fact.channel,
            "granted": fact.granted,
            "changed_at": at,
            "text_version": fact.text_version,
            "event_id": fact.event_id,
            # In the sparse audience index too: the segment materialisation reads consents with
            # the attribute rows, one Query per shard (dal/audience.py).
            **audience_keys(fact.member_id, consent_sk(fact.purpose, fact.channel)),
        }
        put = put_op(
            self.table_name,
            item,
            condition=(
                "attribute_not_exists(pk) OR changed_at < :at OR (changed_at = :at AND event_id < :event)"
            ),
            values={":at": at, ":event": fact.event_id},
        )
        outcome = ProjectOutcome.STORED
        try:
            transact_write([_tombstone_check(self.table_name, erased_marker), put])  # _TOMBSTONE_INDEX, ...
        except ConditionalCheckFailed as failed:
            if _TOMBSTONE_INDEX in failed.failed_indexes:
                return ProjectOutcome.ERASED
            outcome = ProjectOutcome.STALE
        # Stale too: a redelivery repairs a summary its first delivery did not get to write.
        self.refresh_summary(fact.member_id, erased_marker)
        return outcome

    def refresh_summary(self, member_id: str, erased_marker: str) -> None:
        """Rebuild ``MEMBER#<id>`` / ``CONSENTS`` — every consent decision of the member in one
        item (``consents``: ``<purpose>[#<channel>]`` → granted), which dispatch reads with one key
        instead of five — from the consent items themselves, never from the event: whatever order
        the events came in, the summary says what the items say.

        Optimistic: the summary's ``version`` is read before the items and the Put requires it
        unchanged, so a rebuild that read the items before another writer's change cannot
        overwrite that writer's rebuild (it reads again). The erasure tombstone is checked with
        the Put: a late rebuild never recreates an erased member's summary."""
        ddb = client("dynamodb")
        key = consent_summary_key(member_id)
        for _ in range(SUMMARY_ATTEMPTS):
            raw = ddb.get_item(TableName=self.table_name, Key=to_item(key), ConsistentRead=True).get("Item")
            current = from_item(raw) if raw else None
            items = query_all(
                {
                    "TableName": self.table_name,
                    "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                    "ExpressionAttributeValues": to_item(
                        {":pk": member_pk(member_id), ":prefix": "CONSENT#"}
                    ),
                    "ConsistentRead": True,
                }
            )
            decisions = summary_decisions(items)
            if current is not None and current.get("consents") == decisions:
                return
            version = int(current["version"]) if current is not None else 0
            summary = {**key, "entity": "consent_summary", "consents": decisions, "version": version + 1}
            put = (
                put_op(self.table_name, summary, condition="attribute_not_exists(pk)")
                if current is None
                else put_op(self.table_name, summary, condition="version = :v", values={":v": version})
            )
            try:
                transact_write([_tombstone_check(self.table_name, erased_marker), put])
                return
            except ConditionalCheckFailed as failed:
                if _TOMBSTONE_INDEX in failed.failed_indexes:
                    return
        raise RuntimeError(f"consent summary of {member_id} kept moving: the event is retried")

    def marketing_channels(self, member_id: str) -> list[str]:
        page = client("dynamodb").query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=to_item({":pk": member_pk(member_id), ":prefix": "CONSENT#marketing#"}),
            ConsistentRead=True,
        )
        items = [from_item(i) for i in page.get("Items", [])]
        return sorted(str(i["channel"]) for i in items if i.get("granted") is True)


class DynamoErasureRepository:
    """:class:`~services.campaigns.logic.privacy.ErasureRepository` on DynamoDB (Query, no Scan).

    Every step is idempotent, so a redelivered MemberErased (or a retry after a crash half-way)
    finishes the job: the tombstone is a plain Put, the member's partition is read with a Query
    and whatever is still there is pseudonymised or deleted.
    """

    def __init__(self, table_name: str, exports_bucket: str | None = None) -> None:
        self.table_name = table_name
        self.exports_bucket = exports_bucket

    def _member_items(self, member_id: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": member_pk(member_id)}),
            "ConsistentRead": True,
        }
        return list(query_all(kwargs))

    def erase_member(
        self, member_id: str, pseudonym: str, *, event_id: str, erased_at: datetime
    ) -> ErasureResult:
        ddb = client("dynamodb")
        ddb.put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    **tombstone_key(pseudonym),
                    "entity": "erased_member",
                    "erased_at": clock.to_utc_iso(erased_at),
                    "event_id": event_id,
                }
            ),
        )
        # Launches from a snapshot taken before now leave the member out (logic/recent_erasures.py).
        ddb.put_item(TableName=self.table_name, Item=to_item(recent_erasure_item(pseudonym, erased_at)))
        items = self._member_items(member_id)
        episodes = 0
        for item in items:
            if item.get("entity") != "member_episode_ref":
                continue
            if item.get("journey") in _MESSAGE_JOURNEYS:
                # a birthday / points-expiring occurrence: its send's outcome copied onto it before
                # erase_member_delivery deletes the send record below (dal/occurrences.py)
                from services.campaigns.dal.occurrences import freeze_for_erasure  # noqa: PLC0415

                episodes += freeze_for_erasure(self.table_name, str(item["episode_id"]), pseudonym)
                continue
            try:
                ddb.update_item(
                    TableName=self.table_name,
                    Key=to_item({"pk": f"EPISODE#{item['episode_id']}", "sk": "EPISODE"}),
                    UpdateExpression="SET member_id = :pseudonym, member_erased = :true",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues=to_item({":pseudonym": pseudonym, ":true": True}),
                )
                episodes += 1
            except Exception as exc:
                if not is_conditional_check_failed(exc):
                    raise
            ddb.delete_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"JOURNEY#{item['journey']}#{member_id}", "sk": "ACTIVE"}),
            )
        # Only erasures need dispatch's store: consent changes (the frequent event) skip its import.
        from services.campaigns.dal.dispatch import erase_member_delivery  # noqa: PLC0415

        erase_member_delivery(self.table_name, member_id, items)  # send records, caps, due entries
        self._delete_export_parts(items)
        for item in items:
            ddb.delete_item(TableName=self.table_name, Key=to_item({"pk": item["pk"], "sk": item["sk"]}))
        return ErasureResult(
            projections_deleted=sum(1 for i in items if i.get("entity") != "member_episode_ref"),
            episodes_pseudonymised=episodes,
            already_done=not items,
        )

    def _delete_export_parts(self, items: list[dict[str, Any]]) -> None:
        """Export parts written for the member (``EXPORT#<export_id>`` pointers, dal/exports.py):
        members deletes the parts it finds when the erasure starts; these pointers cover a part
        written after that. Deleting a missing object is a no-op, so this is idempotent."""
        refs = [i for i in items if i.get("entity") == "export_part_ref"]
        if not refs:
            return
        if not self.exports_bucket:
            raise RuntimeError("MEMBER_EXPORTS_BUCKET is not set: export parts cannot be erased")
        for ref in refs:
            client("s3").delete_object(Bucket=self.exports_bucket, Key=str(ref["object_key"]))
