"""A complaint's consent withdrawal in MembersTable (logic/complaints.py).

Reads as :class:`~services.members.dal.consents.DynamoConsentRepository` (profile GetItem, the
member's ``CONSENT#`` items by Query, both consistent). Writes one TransactWriteItems:

| # | operation | item | condition |
|---|---|---|---|
| 0 | ConditionCheck | ``MEMBER#<id>`` / ``PROFILE`` | ``status = active`` (an erased member: nothing) |
| 1 | Put | ``MEMBER#<id>`` / ``CONSENT#marketing#<channel>`` | unchanged since read |
| 2 | Put | ``MEMBER#<id>`` / ``CONSENTLOG#<changed_at>#<ulid>`` (source ``complaint``) | new |
| 3 | Put | ``OUTBOX#<id>`` / ``OUTBOX`` (``MemberConsentChanged``) | new |
| 4 | Put | ``EVENT#<event_id>`` / ``CONSUMER#members.on_marketing_complaint`` (TTL 30 days) | new |
"""

from __future__ import annotations

from typing import Any

from services.members.dal.consents import (
    ACTIVE,
    PROFILE_SK,
    DynamoConsentRepository,
    consent_write_ops,
    member_pk,
)
from services.members.logic.complaints import ApplyResult
from services.members.logic.consents import ConsentPlan
from shared.dynamo import ConditionalCheckFailed, idempotency_put, to_item, transact_write

COMPLAINT_CONSUMER = "members.on_marketing_complaint"


class DynamoComplaintRepository(DynamoConsentRepository):
    """:class:`~services.members.logic.complaints.ComplaintRepository` on DynamoDB."""

    def apply_complaint(
        self, plan: ConsentPlan, *, event_id: str, correlation_id: str, producer: str
    ) -> ApplyResult:
        ops: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "TableName": self.table_name,
                    "Key": to_item({"pk": member_pk(plan.member_id), "sk": PROFILE_SK}),
                    "ConditionExpression": "#status = :active",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item({":active": ACTIVE}),
                }
            },
            *consent_write_ops(self.table_name, plan, correlation_id=correlation_id, producer=producer),
        ]
        marker = len(ops)
        # Kept 30 days from now (processing time): the marker is about this delivery, not the
        # complaint's date.
        ops.append(idempotency_put(self.table_name, event_id, COMPLAINT_CONSUMER))
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            return "duplicate" if marker in failed.failed_indexes else "conflict"
        return "applied"
