"""Occurrences of the message journeys (birthday, points expiring) in CampaignsTable.

* occurrence: ``pk = EPISODE#<occurrence_id>``, ``sk = EPISODE`` (``entity = journey_occurrence``);
  ``gsi1pk = JOURNEY#<journey>``, ``gsi1sk = <started_at>#<occurrence_id>`` — the same index as
  churn warning's episodes, so a journey's runs are one Query, newest first;
* the member's reference: ``pk = MEMBER#<member_id>``, ``sk = EPISODE#<occurrence_id>``
  (``entity = member_episode_ref``, with ``journey``) — one member's runs, erasure, the export.

Written by dispatch in the transaction that creates the send record (:func:`occurrence_items`),
so there is one per send id whatever the redeliveries, none for a member erased before dispatch
read the request, and both expire with the send record (same ``ttl``). The outcome is not copied:
a listing reads the page's send records in one BatchGetItem. Erasure (dal/privacy.py) copies the
outcome onto the occurrence (:func:`freeze_for_erasure`) before the send record is deleted.
"""

from __future__ import annotations

from typing import Any

from services.campaigns.dal.episodes import episode_key, journey_page, journey_partition, member_page
from services.campaigns.logic.journeys import OccurrencePageResult, SendState
from services.campaigns.models.entities import Occurrence
from shared import clock
from shared.aws import client
from shared.dynamo import batch_get_all, from_item, is_conditional_check_failed, to_item

ENTITY = "journey_occurrence"
_TIMES = ("started_at", "expires_at", "message_sent_at", "message_finished_at")


def occurrence_items(occurrence: Occurrence, ttl: int) -> list[dict[str, Any]]:
    """The occurrence and the member's reference to it, as plain items (dispatch writes them with
    its own serialiser, in the send record's transaction). ``None`` values are left out."""
    values = occurrence.model_dump(exclude_none=True)
    for name in _TIMES:
        if name in values:
            values[name] = clock.to_utc_iso(values[name])
    values.pop("member_erased", None)
    occurrence_id = values.pop("occurrence_id")
    item = {
        **episode_key(occurrence_id),
        "entity": ENTITY,
        "gsi1pk": journey_partition(occurrence.journey),
        "gsi1sk": f"{values['started_at']}#{occurrence_id}",
        "episode_id": occurrence_id,  # the listing's id, as for episodes
        **values,
        "ttl": ttl,
    }
    ref = {
        "pk": f"MEMBER#{occurrence.member_id}",
        "sk": f"EPISODE#{occurrence_id}",
        "entity": "member_episode_ref",
        "episode_id": occurrence_id,
        "journey": occurrence.journey,
        "ttl": ttl,
    }
    return [item, ref]


def occurrence_from_item(item: dict[str, Any]) -> Occurrence:
    values = {name: item.get(name) for name in Occurrence.model_fields if item.get(name) is not None}
    values["occurrence_id"] = item["episode_id"]
    values["member_erased"] = bool(item.get("member_erased"))
    return Occurrence.model_validate(values)


def _parse(value: Any) -> Any:
    return clock.parse_iso(str(value)) if value else None


def send_state_from_item(item: dict[str, Any]) -> SendState:
    return SendState(
        status=str(item["status"]),
        reason=item.get("reason"),
        channel=item.get("channel"),
        due_at=_parse(item.get("due_at")),
        sent_at=_parse(item.get("sent_at")),
        finished_at=_parse(item.get("finished_at")),
        coupon_id=item.get("coupon_id"),
    )


def _send_key(send_id: str) -> dict[str, str]:
    return {"pk": f"SEND#{send_id}", "sk": "SEND"}  # dal/dispatch.py send_key, kept equal by a test


_TERMINAL = frozenset({"sent", "suppressed", "failed"})  # logic/dispatch.py TERMINAL
_SEND_PROJECTION = "pk, send_id, #status, reason, channel, due_at, sent_at, finished_at, coupon_id"


class DynamoOccurrenceRepository:
    """:class:`~services.campaigns.logic.journeys.OccurrenceIndex` on DynamoDB (Query, no Scan)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def occurrences_newest_first(
        self, journey: str, limit: int, next_token: str | None
    ) -> OccurrencePageResult:
        items, token = journey_page(self.table_name, journey, limit, next_token)
        return OccurrencePageResult(self._with_sends([occurrence_from_item(item) for item in items]), token)

    def member_occurrences_newest_first(
        self, journey: str, member_id: str, limit: int, next_token: str | None
    ) -> OccurrencePageResult:
        """A page of one member's occurrences of the journey, newest first (``member_page``)."""
        items, token = member_page(self.table_name, journey, member_id, limit, next_token)
        found = [occurrence_from_item(item) for item in items]
        found.sort(key=lambda o: (o.started_at, o.occurrence_id), reverse=True)
        return OccurrencePageResult(self._with_sends(found), token)

    def _with_sends(self, found: list[Occurrence]) -> list[tuple[Occurrence, SendState | None]]:
        send_ids = sorted({o.send_id for o in found if o.send_id})
        records = batch_get_all(
            self.table_name,
            [_send_key(s) for s in send_ids],
            projection=_SEND_PROJECTION,
            names={"#status": "status"},
        )
        states = {str(r["send_id"]): send_state_from_item(r) for r in records}
        return [(o, states.get(o.send_id) if o.send_id else None) for o in found]


def freeze_for_erasure(table_name: str, occurrence_id: str, pseudonym: str) -> bool:
    """Erasure: the send's outcome copied onto the occurrence, the member id replaced by the
    pseudonym, and ``send_id``, ``lot_id`` and ``coupon_id`` dropped (each names the member). Call
    it before the send record is deleted. Idempotent: the condition ``attribute_exists(send_id)``
    makes a second call (a redelivered erasure, after the record went) change nothing; returns
    whether this call changed the occurrence."""
    ddb = client("dynamodb")
    got = ddb.get_item(TableName=table_name, Key=to_item(episode_key(occurrence_id)), ConsistentRead=True)
    if "Item" not in got:
        return False
    occurrence = from_item(got["Item"])
    send_id = occurrence.get("send_id")
    if not send_id:
        return False
    record = ddb.get_item(
        TableName=table_name,
        Key=to_item(_send_key(str(send_id))),
        ConsistentRead=True,
        ProjectionExpression=_SEND_PROJECTION,
        ExpressionAttributeNames={"#status": "status"},
    ).get("Item")
    values: dict[str, Any] = {":pseudonym": pseudonym, ":true": True}
    sets = ["member_id = :pseudonym", "member_erased = :true"]
    if record:
        state = from_item(record)
        if state.get("status") not in _TERMINAL:
            # still to be sent: it never will be (dispatch drops an erased member's requests, and
            # the erasure deletes the record's due entry)
            state |= {"status": "suppressed", "reason": "member_erased", "finished_at": None}
        copied = {
            "message_status": state.get("status"),
            "message_reason": state.get("reason"),
            "message_channel": state.get("channel"),
            "message_sent_at": state.get("sent_at"),
            "message_finished_at": state.get("finished_at"),
        }
        for name, value in copied.items():
            if value is not None:
                values[f":{name}"] = value
                sets.append(f"{name} = :{name}")
        values[":issued"] = bool(state.get("coupon_id"))
        sets.append("coupon_issued = :issued")
    try:
        ddb.update_item(
            TableName=table_name,
            Key=to_item(episode_key(occurrence_id)),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE send_id, lot_id, coupon_id",
            ConditionExpression="attribute_exists(pk) AND attribute_exists(send_id)",
            ExpressionAttributeValues=to_item(values),
        )
    except Exception as exc:
        if is_conditional_check_failed(exc):
            return False
        raise
    return True
