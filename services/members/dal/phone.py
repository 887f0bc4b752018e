"""Phone-change state in MembersTable (the only boto3 user for it).

| item | pk | sk |
|---|---|---|
| pending change | ``MEMBER#<id>`` | ``PHONECHANGE`` (code MAC, sealed number, its hash, counters) |
| codes sent to a number | ``SMSLIMIT#<phone hmac>`` | ``<mall date>`` (``sent``; ``ttl`` 2 days) |

The confirmed change itself goes through :meth:`DynamoMembersRepository.apply` (one transaction).
"""

from __future__ import annotations

from typing import Any

from services.members.logic.phone import MAX_CODES_PER_NUMBER_PER_DAY, PENDING_SK, CodeRequest
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    put_op,
    to_item,
    transact_write,
)
from shared.errors import Conflict, TooManyRequests

_NUMBER_INDEX = 1  # the counter's place in save_request's transaction


class DynamoPhoneChangeRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def pending(self, member_id: str) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": PENDING_SK}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return from_item(item) if item else None

    def save_request(self, request: CodeRequest, *, number_day: str, ttl: int) -> None:
        """The pending item (condition: unchanged since read) and the per-number counter
        (condition: under the daily cap), in one transaction."""
        if request.expected_version is None:
            pending = put_op(self.table_name, request.item, condition="attribute_not_exists(pk)")
        else:
            pending = put_op(
                self.table_name,
                request.item,
                condition="#version = :read",
                names={"#version": "version"},
                values={":read": request.expected_version},
            )
        counter = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item({"pk": f"SMSLIMIT#{request.item['phone_hash']}", "sk": number_day}),
                "UpdateExpression": "ADD sent :one SET entity = :entity, #ttl = :ttl",
                "ConditionExpression": "attribute_not_exists(sent) OR sent < :max",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": to_item(
                    {":one": 1, ":max": MAX_CODES_PER_NUMBER_PER_DAY, ":entity": "sms_limit", ":ttl": ttl}
                ),
            }
        }
        try:
            transact_write([pending, counter])
        except ConditionalCheckFailed as failed:
            if _NUMBER_INDEX in failed.failed_indexes:
                raise TooManyRequests(
                    "too_many_codes_for_number", "Too many codes were sent to this number today."
                ) from None
            raise Conflict(
                "phone_change_conflict", "Another code request won meanwhile; try again."
            ) from None

    def count_wrong_attempt(self, member_id: str, attempts_read: int) -> bool:
        """Add one wrong attempt (condition: the count read, so parallel guesses each count);
        False when another attempt counted first."""
        try:
            client("dynamodb").update_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": PENDING_SK}),
                UpdateExpression="SET attempts = :next",
                ConditionExpression="attempts = :read",
                ExpressionAttributeValues=to_item({":next": attempts_read + 1, ":read": attempts_read}),
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True
