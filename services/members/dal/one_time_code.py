"""A purpose's pending one-time code in MembersTable (the only boto3 user for it).

| item | pk | sk |
|---|---|---|
| pending code | ``MEMBER#<id>`` | ``<policy.pending_sk>`` (code MAC, target's keyed hash, counters) |

One per member and purpose (``PHONECHANGE``, ``EMAILVERIFY``): a new code replaces the old one,
keeping its daily counters (:mod:`services.members.logic.one_time_code`). Confirming deletes it in
the purpose's own transaction (:meth:`DynamoMembersRepository.apply`, ``one_time_code.consume``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from services.members.logic.one_time_code import (
    CodeRequest,
    OneTimeCodePolicy,
    WrongCode,
    attempts_read,
    wrong_code_answer,
)
from shared.aws import client
from shared.dynamo import (
    ConditionalCheckFailed,
    from_item,
    is_conditional_check_failed,
    put_op,
    to_item,
    transact_write,
)
from shared.errors import Conflict


class DynamoOneTimeCodes:
    def __init__(self, table_name: str, policy: OneTimeCodePolicy) -> None:
        self.table_name = table_name
        self.policy = policy

    def _key(self, member_id: str) -> dict[str, Any]:
        return to_item({"pk": f"MEMBER#{member_id}", "sk": self.policy.pending_sk})

    def pending(self, member_id: str) -> dict[str, Any] | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table_name, Key=self._key(member_id), ConsistentRead=True)
            .get("Item")
        )
        return from_item(item) if item else None

    def save_request(self, request: CodeRequest, *also: Mapping[str, Any]) -> None:
        """The pending item, on condition that it is unchanged since read, and ``also`` (further
        transaction items, e.g. a per-target counter) in one transaction. Two requests at once: one
        wins, the other is 409 ``policy.request_conflict`` and sends nothing. When a condition of
        ``also`` failed, :class:`ConditionalCheckFailed` propagates for the caller to name
        (``failed_indexes``: 1 is the first of ``also``)."""
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
        try:
            transact_write([pending, *also])
        except ConditionalCheckFailed as failed:
            if any(index > 0 for index in failed.failed_indexes):
                raise
            raise Conflict(
                self.policy.request_conflict, "Another code request won meanwhile; try again."
            ) from None

    def count_wrong_attempt(self, member_id: str, attempts: int) -> bool:
        """Add one wrong attempt (condition: the count read, so parallel guesses each count);
        False when another attempt counted first."""
        try:
            client("dynamodb").update_item(
                TableName=self.table_name,
                Key=self._key(member_id),
                UpdateExpression="SET attempts = :next",
                ConditionExpression="attempts = :read",
                ExpressionAttributeValues=to_item({":next": attempts + 1, ":read": attempts}),
            )
        except Exception as exc:
            if is_conditional_check_failed(exc):
                return False
            raise
        return True

    @contextmanager
    def wrong_attempts_counted(self, member_id: str, pending: Mapping[str, Any] | None) -> Iterator[None]:
        """Around the code check: a :class:`WrongCode` is counted on the pending item, then
        answered with the attempts left (422 ``code_invalid``); every other outcome passes."""
        try:
            yield
        except WrongCode:
            assert pending is not None  # the check raises WrongCode only for a pending code
            attempts = attempts_read(pending)
            self.count_wrong_attempt(member_id, attempts)
            raise wrong_code_answer(self.policy, attempts) from None
