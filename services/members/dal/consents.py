"""Consents in MembersTable (the only boto3 user for them).

| item              | pk                | sk                                   |
|-------------------|-------------------|--------------------------------------|
| consent (current) | ``MEMBER#<id>``   | ``CONSENT#<purpose>[#<channel>]``    |
| consent history   | ``MEMBER#<id>``   | ``CONSENTLOG#<changed_at>#<ulid>``   |
| profile (checked) | ``MEMBER#<id>``   | ``PROFILE`` (``status = active``)    |
| outbox            | ``OUTBOX#<id>``   | ``OUTBOX`` (shared.outbox)           |

Withdrawing ``car_plates`` also deletes the plate lookup keys (``IDENT#plate#<hmac>`` / ``IDENT``)
and their back-references (``MEMBER#<id>`` / ``IDENT#plate#<hmac>``) and removes ``plates_ct``
from the profile (version + 1, ``MemberProfileUpdated``) in the consents' transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, cast

from services.members.logic.consents import (
    ConsentKey,
    ConsentPlan,
    ConsentState,
    withdraws_car_plates,
)
from services.members.models.consents import Channel, ConsentSource, Purpose
from shared import clock
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, query_all, to_item, transact_write
from shared.errors import BadRequest
from shared.events.contracts import MemberProfileUpdated, MemberVehiclesChanged
from shared.outbox import outbox_item

CONSENT_PREFIX = "CONSENT#"
LOG_PREFIX = "CONSENTLOG#"
PROFILE_SK = "PROFILE"
ACTIVE = "active"
PLATE_REF_PREFIX = "IDENT#plate#"
PLATES_FIELD = "plates_ct"


class InvalidNextToken(BadRequest):
    CODE = "invalid_next_token"
    MESSAGE = "next_token is not a token this API returned."


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def consent_sk(purpose: str, channel: str | None) -> str:
    return f"{CONSENT_PREFIX}{purpose}" + (f"#{channel}" if channel else "")


def consent_item(member_id: str, state: ConsentState) -> dict[str, Any]:
    return {
        "pk": member_pk(member_id),
        "sk": consent_sk(state.purpose, state.channel),
        "entity": "consent",
        "member_id": member_id,
        "purpose": state.purpose,
        "channel": state.channel,
        "granted": state.granted,
        "text_version": state.text_version,
        "changed_at": clock.to_utc_iso(state.changed_at),
        "source": state.source,
    }


def log_item(
    member_id: str, state: ConsentState, previous: ConsentState | None, log_id: str
) -> dict[str, Any]:
    changed_at = clock.to_utc_iso(state.changed_at)
    return {
        "pk": member_pk(member_id),
        "sk": f"{LOG_PREFIX}{changed_at}#{log_id}",
        "entity": "consent_log",
        "member_id": member_id,
        "purpose": state.purpose,
        "channel": state.channel,
        "granted": state.granted,
        "previous_granted": previous.granted if previous is not None else None,
        "text_version": state.text_version,
        "changed_at": changed_at,
        "source": state.source,
    }


def state_from_item(item: dict[str, Any]) -> ConsentState:
    return ConsentState(
        purpose=cast(Purpose, item["purpose"]),
        channel=cast("Channel | None", item.get("channel")),
        granted=bool(item["granted"]),
        text_version=str(item["text_version"]),
        changed_at=clock.parse_iso(item["changed_at"]),
        source=cast(ConsentSource, item.get("source", "member")),
    )


def consent_write_ops(
    table_name: str,
    plan: ConsentPlan,
    *,
    correlation_id: str,
    producer: str,
    condition_on_current: bool = True,
) -> list[dict[str, Any]]:
    """The TransactWriteItems operations of ``plan``: per change the current item, its history
    entry and its MemberConsentChanged outbox item.

    With ``condition_on_current`` each current item must still be what the plan read (absent, or
    the same ``changed_at``/``granted``/``text_version``), so concurrent updates cannot both win.
    Registration passes ``False`` (its own profile Put guards the new member).
    """
    ops: list[dict[str, Any]] = []
    for change in plan.changes:
        condition: str | None = None
        values: dict[str, Any] | None = None
        if condition_on_current and change.previous is None:
            condition = "attribute_not_exists(pk)"
        elif condition_on_current and change.previous is not None:
            condition = "changed_at = :prev_at AND granted = :prev_granted AND text_version = :prev_text"
            values = {
                ":prev_at": clock.to_utc_iso(change.previous.changed_at),
                ":prev_granted": change.previous.granted,
                ":prev_text": change.previous.text_version,
            }
        ops.append(
            put_op(table_name, consent_item(plan.member_id, change.new), condition=condition, values=values)
        )
        ops.append(
            put_op(
                table_name,
                log_item(plan.member_id, change.new, change.previous, change.log_id),
                condition="attribute_not_exists(pk)",
            )
        )
        record = outbox_item(
            change.event(), correlation_id=correlation_id, producer=producer, now=change.new.changed_at
        )
        ops.append(put_op(table_name, record, condition="attribute_not_exists(pk)"))
    return ops


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(from_item(key), separators=(",", ":")).encode()).decode()


def decode_token(token: str, member_id: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise InvalidNextToken() from None
    if (
        not isinstance(key, dict)
        or set(key) != {"pk", "sk"}
        or key.get("pk") != member_pk(member_id)
        or not str(key.get("sk", "")).startswith(LOG_PREFIX)
    ):
        raise InvalidNextToken()
    return to_item(key)


class DynamoConsentRepository:
    """:class:`~services.members.logic.consents.ConsentRepository` on DynamoDB (Query/Get only)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def member_active(self, member_id: str) -> bool:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": member_pk(member_id), "sk": PROFILE_SK}),
            ConsistentRead=True,
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
        )
        item = response.get("Item")
        return bool(item) and from_item(item).get("status") == ACTIVE

    def current(self, member_id: str) -> dict[ConsentKey, ConsentState]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": member_pk(member_id), ":prefix": CONSENT_PREFIX}),
            "ConsistentRead": True,
        }
        states: dict[ConsentKey, ConsentState] = {}
        for item in query_all(kwargs):
            state = state_from_item(item)
            states[state.key] = state
        return states

    def history(
        self, member_id: str, *, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """History entries (plain items) newest first, and the token of the next page."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": to_item({":pk": member_pk(member_id), ":prefix": LOG_PREFIX}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if next_token:
            kwargs["ExclusiveStartKey"] = decode_token(next_token, member_id)
        page = client("dynamodb").query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return [from_item(i) for i in page.get("Items", [])], encode_token(last) if last else None

    def _plate_unlink_ops(
        self, plan: ConsentPlan, *, correlation_id: str, producer: str
    ) -> list[dict[str, Any]] | None:
        """The operations that unlink the member's plates (replacing the profile's status check),
        or None when the member has no plate linked."""
        ddb = client("dynamodb")
        pk = member_pk(plan.member_id)
        refs = ddb.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues=to_item({":pk": pk, ":prefix": PLATE_REF_PREFIX}),
            ConsistentRead=True,
            ProjectionExpression="sk",
        ).get("Items", [])  # at most five plates: one page
        profile_raw = ddb.get_item(
            TableName=self.table_name,
            Key=to_item({"pk": pk, "sk": PROFILE_SK}),
            ConsistentRead=True,
            ProjectionExpression="#version, #plates",
            ExpressionAttributeNames={"#version": "version", "#plates": PLATES_FIELD},
        ).get("Item")
        profile = from_item(profile_raw) if profile_raw else {}
        if not refs and PLATES_FIELD not in profile:
            return None
        version = int(profile.get("version") or 1)
        at = next(c.new.changed_at for c in plan.changes if c.new.purpose == "car_plates")
        ops: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": to_item({"pk": pk, "sk": PROFILE_SK}),
                    "UpdateExpression": "SET #version = :next, updated_at = :at REMOVE #plates",
                    "ConditionExpression": "#status = :active AND #version = :version",
                    "ExpressionAttributeNames": {
                        "#status": "status",
                        "#version": "version",
                        "#plates": PLATES_FIELD,
                    },
                    "ExpressionAttributeValues": to_item(
                        {
                            ":active": ACTIVE,
                            ":version": version,
                            ":next": version + 1,
                            ":at": clock.to_utc_iso(at),
                        }
                    ),
                }
            }
        ]
        for raw in refs:
            ident = str(from_item(raw)["sk"])
            ops.append(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": to_item({"pk": ident, "sk": "IDENT"}),
                        "ConditionExpression": "attribute_not_exists(pk) OR member_id = :me",
                        "ExpressionAttributeValues": to_item({":me": plan.member_id}),
                    }
                }
            )
            ops.append({"Delete": {"TableName": self.table_name, "Key": to_item({"pk": pk, "sk": ident})}})
        event = MemberProfileUpdated(
            member_id=plan.member_id, changed_fields=["plates"], updated_at=at, updated_by="member"
        )
        record = outbox_item(event, correlation_id=correlation_id, producer=producer, now=at)
        ops.append(put_op(self.table_name, record, condition="attribute_not_exists(pk)"))
        if refs:
            unlinked = [str(from_item(raw)["sk"]).removeprefix(PLATE_REF_PREFIX) for raw in refs]
            vehicles = MemberVehiclesChanged(
                member_id=plan.member_id, linked=[], unlinked=unlinked, changed_at=at
            )
            record = outbox_item(vehicles, correlation_id=correlation_id, producer=producer, now=at)
            ops.append(put_op(self.table_name, record, condition="attribute_not_exists(pk)"))
        return ops

    def apply(self, plan: ConsentPlan, *, correlation_id: str, producer: str) -> bool:
        check: list[dict[str, Any]] | None = None
        if withdraws_car_plates(plan):
            check = self._plate_unlink_ops(plan, correlation_id=correlation_id, producer=producer)
        if check is None:
            check = [
                {
                    "ConditionCheck": {
                        "TableName": self.table_name,
                        "Key": to_item({"pk": member_pk(plan.member_id), "sk": PROFILE_SK}),
                        "ConditionExpression": "#status = :active",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_item({":active": ACTIVE}),
                    }
                }
            ]
        ops = [
            *check,
            *consent_write_ops(self.table_name, plan, correlation_id=correlation_id, producer=producer),
        ]
        try:
            transact_write(ops)
        except ConditionalCheckFailed:
            return False
        return True
