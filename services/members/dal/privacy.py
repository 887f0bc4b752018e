"""Erasure in MembersTable (the only boto3 user for it): the transaction of
:class:`~services.members.logic.privacy.ErasurePlan` and the idempotent clean-up after it.

Reads are Queries on the member's own partition (``MEMBER#<id>``) — never a Scan.
"""

from __future__ import annotations

from typing import Any

from services.members.logic.privacy import ErasurePlan
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
from shared.errors import Conflict
from shared.outbox import outbox_item

_TOMBSTONE_INDEX = 0
# BIRTHDAY#<year>: the birthday job's yearly marker (its existence dates the birthday).
# EXPORT#<id>: export requests (their objects in the export bucket are deleted first, by the caller).
# PHONECHANGE: a pending phone change (the new number sealed, its lookup hash).
# EMAILVERIFY: a pending e-mail verification (a code MAC and the address's keyed hash).
_ERASED_PREFIXES = (
    "IDENT#",
    "CONSENT#",
    "CONSENTLOG#",
    "BIRTHDAY#",
    "EXPORT#",
    "PHONECHANGE",
    "EMAILVERIFY",
)


class DynamoPrivacyRepository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    def profile_status(self, member_id: str) -> str | None:
        response = client("dynamodb").get_item(
            TableName=self.table_name,
            Key=to_item({"pk": f"MEMBER#{member_id}", "sk": "PROFILE"}),
            ConsistentRead=True,
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "status"},
        )
        item = response.get("Item")
        return str(from_item(item).get("status")) if item else None

    def partition(self, member_id: str) -> list[dict[str, Any]]:
        """Every item of the member's partition (keys and the attributes erasure needs)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": f"MEMBER#{member_id}"}),
            "ConsistentRead": True,
            "ProjectionExpression": "pk, sk, kind, created_at",
        }
        return list(query_all(kwargs))

    def erase(self, plan: ErasurePlan, *, correlation_id: str, producer: str) -> bool:
        """The erasure transaction; False when the member was not active (nothing written)."""
        me = to_item({":me": plan.member_id})
        ops: list[dict[str, Any]] = [
            put_op(
                self.table_name,
                plan.tombstone,
                condition="#status = :active",
                names={"#status": "status"},
                values={":active": "active"},
            ),
            put_op(
                self.table_name,
                outbox_item(
                    plan.event, correlation_id=correlation_id, producer=producer, now=plan.event.erased_at
                ),
                condition="attribute_not_exists(pk)",
            ),
        ]
        if plan.audit is not None:
            ops.append(put_op(self.table_name, plan.audit, condition="attribute_not_exists(pk)"))
        if plan.vehicles is not None:
            vehicles = outbox_item(
                plan.vehicles, correlation_id=correlation_id, producer=producer, now=plan.event.erased_at
            )
            ops.append(put_op(self.table_name, vehicles, condition="attribute_not_exists(pk)"))
        for key in plan.in_transaction:
            delete: dict[str, Any] = {"TableName": self.table_name, "Key": to_item(key)}
            if key in plan.lookups_in_transaction:
                # only our own lookup key (it cannot be anyone else's, but never delete another's)
                delete["ConditionExpression"] = "attribute_not_exists(pk) OR member_id = :me"
                delete["ExpressionAttributeValues"] = me
            ops.append({"Delete": delete})
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            if _TOMBSTONE_INDEX in failed.failed_indexes:
                return False
            raise Conflict("erasure_conflict", "The member's data changed meanwhile; try again.") from None
        return True

    def finish(self, member_id: str) -> int:
        """Delete what is left of the member's data key, lookups and consents (lookups that did not
        fit the transaction, the consent history), and take the statistics out of the
        nightly scoring index. Idempotent; returns how many items it deleted."""
        ddb = client("dynamodb")
        deleted = 0
        for item in self.partition(member_id):
            sk = str(item["sk"])
            if sk != "DATAKEY" and not sk.startswith(_ERASED_PREFIXES):
                continue  # the tombstone, the statistics, other slices' pseudonymous items
            if sk.startswith("IDENT#"):
                try:
                    ddb.delete_item(
                        TableName=self.table_name,
                        Key=to_item({"pk": sk, "sk": "IDENT"}),
                        ConditionExpression="attribute_not_exists(pk) OR member_id = :me",
                        ExpressionAttributeValues=to_item({":me": member_id}),
                    )
                except Exception as exc:
                    if not is_conditional_check_failed(exc):
                        raise
            ddb.delete_item(TableName=self.table_name, Key=to_item({"pk": item["pk"], "sk": sk}))
            deleted += 1
        try:
            ddb.update_item(
                TableName=self.table_name,
                Key=to_item({"pk": f"MEMBER#{member_id}", "sk": "STATS"}),
                UpdateExpression="SET member_erased = :t REMOVE gsi1pk, gsi1sk",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=to_item({":t": True}),
            )
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise
        return deleted
