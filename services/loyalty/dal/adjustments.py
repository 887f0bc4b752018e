"""Points adjustments in LoyaltyTable (the only boto3 user for them).

| item | pk | sk |
|---|---|---|
| adjustment | ``ADJUSTMENT#<id>`` | ``ADJUSTMENT`` |
| review queue entry (pending only) | ``ADJUSTMENT_QUEUE`` | ``<requested_at>#<id>`` |
| request marker (contract D, API ``request_id``) | ``ADJUSTMENT_REQ#<key>`` | ``ADJUSTMENT_REQ`` |
| the member's pointer (erasure) | ``WALLET#<member_id>`` | ``ADJUSTMENT#<id>`` |
| audit | ``AUDIT#ADJUSTMENT#<id>`` | ``<at>#<entry_id>`` |

Approval is one transaction: the adjustment (``status = pending`` → ``applied``), the queue entry
deleted, the audit entry, then L1's ledger change and the outbox (PointsAdjusted, PointsEarned).
An adjustment that ``reverses`` a movement applies as the ledger's ``reversal`` movement (with the
ledger's marker of the reversed movement in the same transaction) and publishes PointsAdjusted
only (points given back are not an earning). Reversing a reward's redemption also returns the
reward in that transaction (dal/rewards.py ``return_ops``: stock, the member's counter, an unused
coupon revoked); a coupon used meanwhile fails its condition: 409 ``reward_coupon_used``, nothing
written, the adjustment stays pending.

An erased member (loyalty's tombstone ``ERASED#<pseudonym>``, written first by the MemberErased
consumer) gets no new adjustment and none decided: the request, the approval and the rejection
each carry a ConditionCheck that the tombstone is absent. An approval or rejection that meets the
tombstone closes the adjustment as the wallet eraser does (``rejected`` / ``member_erased``, under
the pseudonym, queue entry and the member's pointer deleted; no event) and answers 409
``member_erased``: an erasure whose wallet step has not run yet (or failed and waits for its
redelivery) cannot let an event naming the member out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.loyalty.dal.coupons import update_op
from services.loyalty.dal.keys import ADJUSTMENT_QUEUE_PK as QUEUE_PK
from services.loyalty.dal.keys import adjustment_key, iso, tombstone_key, wallet_pk
from services.loyalty.dal.keys import adjustment_queue_key as queue_key
from services.loyalty.dal.wallet_common import audit_put, outbox_put
from services.loyalty.dal.wallet_items import adjustment_from_item, adjustment_item
from services.loyalty.dal.wallet_points import LedgerPoints
from services.loyalty.logic import ledger as L
from services.loyalty.logic.wallet_errors import MemberErasedError, RewardCouponUsed
from services.loyalty.models.adjustments import Adjustment
from shared.aws import client
from shared.dynamo import ConditionalCheckFailed, from_item, put_op, query_all, to_item, transact_write
from shared.events.contracts import EventData, PointsAdjusted, PointsAdjustmentRejected

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.loyalty.dal.rewards import DynamoRewardRepository

NOT_EXISTS = "attribute_not_exists(pk)"
GUARD_AT = 3
"""Where an approval's ``extra`` items put the tombstone check (after status, queue, audit)."""


def _status_update(a: Adjustment, values: dict[str, Any], sets: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": "",  # filled by the caller
            **update_op(
                adjustment_key(a.adjustment_id),
                f"SET #s = :new, {sets}",
                {":pending": "pending", **values},
                condition="#s = :pending",
                names={"#s": "status"},
            ),
        }
    }


class DynamoAdjustmentRepository:
    """:class:`~services.loyalty.logic.adjustments.AdjustmentRepository` on DynamoDB."""

    def __init__(
        self,
        table_name: str,
        points: LedgerPoints | None = None,
        *,
        pseudonymise: Callable[[str], str] | None = None,
    ) -> None:
        """``pseudonymise`` (default: the ledger's) gives the erasure tombstone's key; without
        either (tickets' consumer has no pseudonym key) a request is stored unchecked and the
        decision checks the tombstone."""
        self.table = table_name
        self.points = points
        self.pseudonymise = pseudonymise or (points.ledger_id if points is not None else None)

    def _not_erased(self, member_id: str) -> dict[str, Any] | None:
        """The ConditionCheck that the member has no erasure tombstone (None: no pseudonym key)."""
        if self.pseudonymise is None:
            return None
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": to_item(tombstone_key(self.pseudonymise(member_id))),
                "ConditionExpression": NOT_EXISTS,
            }
        }

    def close_erased(self, adjustment: Adjustment) -> None:
        """Close a pending adjustment of an erased member as the wallet eraser does
        (dal/wallet_privacy.py): ``rejected`` / ``member_erased`` under the pseudonym, its queue
        entry and the member's pointer deleted, no event. Nothing when it was closed already."""
        if self.pseudonymise is None:
            raise RuntimeError("closing an erased member's adjustment needs the pseudonym key")
        update = _status_update(
            adjustment,
            {
                ":new": "rejected",
                ":why": "member_erased",
                ":alias": self.pseudonymise(adjustment.member_id),
                ":t": True,
                ":member": adjustment.member_id,
            },
            "rejection_reason = :why, member_id = :alias, member_pseudonymised = :t",
        )
        update["Update"]["TableName"] = self.table
        update["Update"]["ConditionExpression"] += " AND member_id = :member"
        ref = {"pk": wallet_pk(adjustment.member_id), "sk": f"ADJUSTMENT#{adjustment.adjustment_id}"}
        try:
            transact_write(
                [
                    update,
                    {"Delete": {"TableName": self.table, "Key": to_item(queue_key(adjustment))}},
                    {"Delete": {"TableName": self.table, "Key": to_item(ref)}},
                ]
            )
        except ConditionalCheckFailed:
            return  # the wallet eraser (or a concurrent decision) closed it first

    def create(self, adjustment: Adjustment, *, request_key: str | None) -> Adjustment | None:
        ops: list[dict[str, Any]] = [
            put_op(self.table, adjustment_item(adjustment), condition=NOT_EXISTS),
            put_op(
                self.table,
                {
                    **queue_key(adjustment),
                    "entity": "adjustment_queue",
                    "adjustment_id": adjustment.adjustment_id,
                },
            ),
            put_op(
                self.table,
                {
                    "pk": wallet_pk(adjustment.member_id),
                    "sk": f"ADJUSTMENT#{adjustment.adjustment_id}",
                    "entity": "adjustment_ref",
                },
            ),
            audit_put(
                self.table,
                subject=f"ADJUSTMENT#{adjustment.adjustment_id}",
                action="points_adjustment_requested",
                actor=f"staff:{adjustment.requested_by}",
                at=adjustment.requested_at,
                details={
                    "points": adjustment.points,
                    "reason": adjustment.reason,
                    "ticket_id": adjustment.ticket_id,
                    "reverses": adjustment.reverses,
                },
            ),
        ]
        marker_at = guard_at = -1
        if request_key is not None:
            marker_at = len(ops)
            ops.append(
                put_op(
                    self.table,
                    {
                        "pk": f"ADJUSTMENT_REQ#{request_key}",
                        "sk": "ADJUSTMENT_REQ",
                        "entity": "adjustment_request",
                        "adjustment_id": adjustment.adjustment_id,
                    },
                    condition=NOT_EXISTS,
                )
            )
        guard = self._not_erased(adjustment.member_id)
        if guard is not None:
            guard_at = len(ops)
            ops.append(guard)
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            if request_key is not None and marker_at in failed.failed_indexes:
                earlier = self.by_request(request_key)
                if earlier is not None:
                    return earlier
            if guard_at in failed.failed_indexes:
                raise MemberErasedError() from None
            raise
        return None

    def rewards(self) -> DynamoRewardRepository:
        """The rewards' repository (a reversal of a redemption returns the reward)."""
        from services.loyalty.dal.coupons import DynamoCouponRepository  # noqa: PLC0415 - reversals only
        from services.loyalty.dal.rewards import DynamoRewardRepository  # noqa: PLC0415

        if self.points is None:
            raise RuntimeError("returning a reward needs the ledger")
        return DynamoRewardRepository(
            self.table, self.points, DynamoCouponRepository(self.table, self.points.tz)
        )

    def by_request(self, request_key: str) -> Adjustment | None:
        """The adjustment stored under a request marker (None: no such request yet)."""
        marker = (
            client("dynamodb")
            .get_item(
                TableName=self.table,
                Key=to_item({"pk": f"ADJUSTMENT_REQ#{request_key}", "sk": "ADJUSTMENT_REQ"}),
                ConsistentRead=True,
            )
            .get("Item")
        )
        return self.get(str(from_item(marker)["adjustment_id"])) if marker else None

    def get(self, adjustment_id: str) -> Adjustment | None:
        item = (
            client("dynamodb")
            .get_item(TableName=self.table, Key=to_item(adjustment_key(adjustment_id)), ConsistentRead=True)
            .get("Item")
        )
        return adjustment_from_item(from_item(item)) if item else None

    def pending(self, limit: int) -> list[Adjustment]:
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": QUEUE_PK}),
            "Limit": limit,
        }
        page = client("dynamodb").query(**request)
        out = []
        for raw in page.get("Items", []):
            found = self.get(str(from_item(raw)["adjustment_id"]))
            if found is not None:
                out.append(found)
        return out

    def apply(
        self, adjustment: Adjustment, approver: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        if self.points is None:
            raise RuntimeError("approving an adjustment needs the ledger")
        applied: dict[str, Any] = {}
        guard = self._not_erased(adjustment.member_id)
        assert guard is not None  # the ledger pseudonymises
        returning = rewards = None
        if adjustment.reverses is not None:
            rewards = self.rewards()
            original = self.points.movement(adjustment.member_id, adjustment.reverses)
            if original is not None:  # (None: ``reverse`` answers movement_not_found)
                returning = rewards.reward_return(adjustment.member_id, original)
        where: dict[str, int] = {}

        def extra(change: L.LedgerChange) -> Sequence[Mapping[str, Any]]:
            movement = change.movement
            applied.update(movement_id=movement.movement_id, balance_after=movement.balance_after)
            update = _status_update(
                adjustment,
                {
                    ":new": "applied",
                    ":by": approver,
                    ":at": iso(now),
                    ":m": movement.movement_id,
                    ":b": movement.balance_after,
                },
                "decided_by = :by, decided_at = :at, movement_id = :m, balance_after = :b",
            )
            update["Update"]["TableName"] = self.table
            ops = [
                update,
                {"Delete": {"TableName": self.table, "Key": to_item(queue_key(adjustment))}},
                audit_put(
                    self.table,
                    subject=f"ADJUSTMENT#{adjustment.adjustment_id}",
                    action="points_adjustment_approved",
                    actor=f"staff:{approver}",
                    at=now,
                    details={
                        "points": movement.points,
                        "movement_id": movement.movement_id,
                        "reverses": movement.reverses,
                    },
                ),
                guard,  # index GUARD_AT: the member is not erased
            ]
            if returning is not None and rewards is not None:
                more, at = rewards.return_ops(
                    returning, movement_id=movement.movement_id, actor=f"staff:{approver}", now=now
                )
                where.update({name: index + len(ops) for name, index in at.items()})
                ops += more
            return ops

        def events(change: L.LedgerChange) -> Sequence[EventData]:
            return [
                PointsAdjusted(
                    adjustment_id=adjustment.adjustment_id,
                    member_id=adjustment.member_id,
                    points=change.movement.points,
                    reason=adjustment.reason,
                    ticket_id=adjustment.ticket_id,
                    requested_by=adjustment.requested_by,
                    approved_by=approver,
                    movement_id=change.movement.movement_id,
                    balance_after=change.movement.balance_after,
                    adjusted_at=now,
                    balance_version=change.version_after,
                )
            ]

        reason = f"adjustment: {adjustment.reason}"
        source = L.Source("staff", adjustment.adjustment_id)
        key = f"adjust#{adjustment.adjustment_id}"
        try:
            if adjustment.reverses is not None:
                moved = self.points.reverse(
                    adjustment.member_id,
                    adjustment.reverses,
                    reason=f"reversal: {adjustment.reason}",
                    source=source,
                    actor=f"staff:{approver}",
                    idempotency_key=key,
                    correlation_id=correlation_id,
                    producer="loyalty.api",
                    now=now,
                    extra=extra,
                    events=events,
                )
            elif adjustment.points > 0:
                moved = self.points.credit(
                    adjustment.member_id,
                    adjustment.points,
                    kind="adjustment",
                    earn_reason="adjustment",
                    reason=reason,
                    source=source,
                    actor=f"staff:{approver}",
                    idempotency_key=key,
                    correlation_id=correlation_id,
                    producer="loyalty.api",
                    now=now,
                    extra=extra,
                    events=events,
                )
            else:
                # A correction below zero is recorded as debt, never refused nor hidden.
                moved = self.points.debit(
                    adjustment.member_id,
                    -adjustment.points,
                    kind="adjustment",
                    allow_negative=True,
                    reason=reason,
                    source=source,
                    actor=f"staff:{approver}",
                    idempotency_key=key,
                    correlation_id=correlation_id,
                    producer="loyalty.api",
                    now=now,
                    extra=extra,
                    events=events,
                )
        except L.ExtraItemsFailed as failed:
            if GUARD_AT in failed.indexes:
                self.close_erased(adjustment)
                raise MemberErasedError() from None
            if 0 in failed.indexes:
                return None  # no longer pending
            if where.get("coupon") in failed.indexes:
                raise RewardCouponUsed() from None
            if where.get("redemption") in failed.indexes:
                raise L.AlreadyReversed() from None
            return None
        return adjustment.model_copy(
            update={
                "status": "applied",
                "decided_by": approver,
                "decided_at": now,
                "movement_id": moved.movement_id,
                "balance_after": moved.balance_after,
            }
        )

    def reject(
        self, adjustment: Adjustment, rejecter: str, reason: str, now: datetime, correlation_id: str
    ) -> Adjustment | None:
        update = _status_update(
            adjustment,
            {":new": "rejected", ":by": rejecter, ":at": iso(now), ":why": reason},
            "decided_by = :by, decided_at = :at, rejection_reason = :why",
        )
        update["Update"]["TableName"] = self.table
        event = PointsAdjustmentRejected(
            adjustment_id=adjustment.adjustment_id,
            member_id=adjustment.member_id,
            points=adjustment.points,
            ticket_id=adjustment.ticket_id,
            requested_by=adjustment.requested_by,
            rejected_by=rejecter,
            rejection_reason=reason,
            rejected_at=now,
        )
        ops = [
            update,
            {"Delete": {"TableName": self.table, "Key": to_item(queue_key(adjustment))}},
            audit_put(
                self.table,
                subject=f"ADJUSTMENT#{adjustment.adjustment_id}",
                action="points_adjustment_rejected",
                actor=f"staff:{rejecter}",
                at=now,
                details={"reason": reason},
            ),
            outbox_put(self.table, event, correlation_id, "loyalty.api", now),
        ]
        guard = self._not_erased(adjustment.member_id)
        if guard is not None:
            ops.append(guard)
        try:
            transact_write(ops)
        except ConditionalCheckFailed as failed:
            if guard is not None and len(ops) - 1 in failed.failed_indexes:
                self.close_erased(adjustment)
                raise MemberErasedError() from None
            return None
        return adjustment.model_copy(
            update={
                "status": "rejected",
                "decided_by": rejecter,
                "decided_at": now,
                "rejection_reason": reason,
            }
        )


def member_adjustments(table: str, member_id: str) -> list[str]:
    """The ids of a member's adjustments (erasure)."""
    request = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :a)",
        "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id), ":a": "ADJUSTMENT#"}),
    }
    return [str(i["sk"]).removeprefix("ADJUSTMENT#") for i in query_all(request)]
