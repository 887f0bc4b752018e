"""Erasure of a member's wallet (MemberErased; issue #4 point 11): one Query of the member's
``WALLET#<member_id>`` partition, then per item:

* coupons — deleted with their code pointer and expiry-index entry (a coupon is no accounting
  record; its redemption stays in the audit log, which holds no member id);
* per-template and per-reward counters — deleted;
* receipt claims — deleted with their pointer and review-queue entry; the duplicate key
  (store + machine + receipt number, no member id) stays, so the receipt is not claimable again;
* reward redemptions — points were spent on them (accounting): moved under the pseudonym;
* points adjustments — kept under the pseudonym (the ledger's own entries are L1's); a pending
  one is closed as rejected (``member_erased``): nobody may credit an erased member;
* the parking plate projection and the WeChat identity link of the member — deleted;
* pointers to the member's export parts (dal/exports.py) — deleted; their object keys are returned
  (``export_objects``) so the handler deletes the parts an erasure overtook.

Idempotent: a redelivered MemberErased finds the partition empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from services.loyalty.dal.keys import (
    adjustment_key,
    adjustment_queue_key,
    claim_key,
    code_key,
    expiry_key,
    receipt_queue_key,
    wallet_pk,
)
from services.loyalty.dal.wallet_items import adjustment_from_item, claim_from_item, coupon_from_item
from shared.aws import client
from shared.dynamo import from_item, is_conditional_check_failed, put_op, query_all, to_item, transact_write


@dataclass
class WalletErased:
    coupons: int = 0
    receipts: int = 0
    redemptions: int = 0
    adjustments: int = 0
    other: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    export_objects: list[str] = field(default_factory=list)


class DynamoWalletEraser:
    def __init__(self, table_name: str, tz: tzinfo) -> None:
        self.table = table_name
        self.tz = tz

    def _delete(self, key: dict[str, str]) -> dict[str, Any]:
        return {"Delete": {"TableName": self.table, "Key": to_item(key)}}

    def erase(self, member_id: str, alias: str) -> WalletErased:
        ddb = client("dynamodb")
        result = WalletErased()
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_item({":pk": wallet_pk(member_id)}),
            "ConsistentRead": True,
        }
        for item in list(query_all(request)):
            key = {"pk": str(item["pk"]), "sk": str(item["sk"])}
            sk = key["sk"]
            if sk.startswith("COUPON#"):
                coupon = coupon_from_item(item)
                transact_write(
                    [
                        self._delete(key),
                        self._delete(code_key(coupon.code)),
                        self._delete(expiry_key(coupon, self.tz)),
                    ]
                )
                result.coupons += 1
            elif sk.startswith("RECEIPT#"):
                raw = ddb.get_item(
                    TableName=self.table, Key=to_item(claim_key(sk.removeprefix("RECEIPT#")))
                ).get("Item")
                ops = [self._delete(key)]
                if raw:
                    claim = claim_from_item(from_item(raw))
                    ops += [self._delete(claim_key(claim.receipt_id)), self._delete(receipt_queue_key(claim))]
                transact_write(ops)
                result.receipts += 1
            elif sk.startswith("REDEMPTION#"):
                moved = {**item, "pk": wallet_pk(alias), "member_id": alias, "member_pseudonymised": True}
                moved.pop("pickup_code", None)
                transact_write([put_op(self.table, moved), self._delete(key)])
                result.redemptions += 1
            elif sk.startswith("ADJUSTMENT#"):
                self._pseudonymise_adjustment(sk.removeprefix("ADJUSTMENT#"), member_id, alias)
                ddb.delete_item(TableName=self.table, Key=to_item(key))
                result.adjustments += 1
            elif sk.startswith(("PLATE#", "WXID#")):
                # The plate → member projection, or the WeChat identity link: drop the link itself
                # (if it still names this member) with the member's pointer to it.
                kind, ref = sk.split("#", 1)
                vehicle = {"pk": f"{'VEHICLE' if kind == 'PLATE' else 'WXID'}#{ref}", "sk": "MEMBER"}
                try:
                    transact_write(
                        [
                            {
                                "Delete": {
                                    "TableName": self.table,
                                    "Key": to_item(vehicle),
                                    "ConditionExpression": "member_id = :member",
                                    "ExpressionAttributeValues": to_item({":member": member_id}),
                                }
                            },
                            self._delete(key),
                        ]
                    )
                except Exception as exc:
                    if not is_conditional_check_failed(exc):
                        raise
                    ddb.delete_item(TableName=self.table, Key=to_item(key))  # the car changed hands
                result.other += 1
            elif sk.startswith("EXPORT#"):
                result.export_objects.append(str(item["object_key"]))
                ddb.delete_item(TableName=self.table, Key=to_item(key))
            else:  # LIMIT#, RLIMIT#: counters
                ddb.delete_item(TableName=self.table, Key=to_item(key))
                result.other += 1
        return result

    def _pseudonymise_adjustment(self, adjustment_id: str, member_id: str, alias: str) -> None:
        ddb = client("dynamodb")
        raw = ddb.get_item(
            TableName=self.table, Key=to_item(adjustment_key(adjustment_id)), ConsistentRead=True
        ).get("Item")
        if not raw:
            return
        adjustment = adjustment_from_item(from_item(raw))
        sets = "member_id = :alias, member_pseudonymised = :t"
        values: dict[str, Any] = {":alias": alias, ":t": True, ":member": member_id}
        ops: list[dict[str, Any]] = []
        if adjustment.status == "pending":
            sets += ", #s = :rejected, rejection_reason = :why"
            values.update({":rejected": "rejected", ":why": "member_erased"})
            ops.append(self._delete(adjustment_queue_key(adjustment)))
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_item(adjustment_key(adjustment_id)),
            "UpdateExpression": "SET " + sets,
            "ConditionExpression": "member_id = :member",
            "ExpressionAttributeValues": to_item(values),
        }
        if adjustment.status == "pending":
            update["ExpressionAttributeNames"] = {"#s": "status"}
        try:
            transact_write([{"Update": update}, *ops])
        except Exception as exc:
            if not is_conditional_check_failed(exc):
                raise
