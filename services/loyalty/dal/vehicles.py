"""The plate → member projection (MemberVehiclesChanged), on its own so that its consumer
(LoyaltyOnMemberVehiclesFunction) imports only this and not the parking, coupon and ledger code.

| item | pk | sk |
|---|---|---|
| the plate's member (newest ``changed_at`` wins) | ``VEHICLE#<vehicle_ref>`` | ``MEMBER`` |
| the member's pointer (erasure finds it) | ``WALLET#<member_id>`` | ``PLATE#<vehicle_ref>`` |
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared import clock
from shared.dynamo import ConditionalCheckFailed, put_op, to_item, transact_write


def vehicle_key(ref: str) -> dict[str, str]:
    return {"pk": f"VEHICLE#{ref}", "sk": "MEMBER"}


def plate_pointer_key(member_id: str, ref: str) -> dict[str, str]:
    # WALLET#<member_id>: the wallet partition (dal/coupons.py wallet_pk), which erasure empties.
    return {"pk": f"WALLET#{member_id}", "sk": f"PLATE#{ref}"}


def apply_vehicles(
    table: str, member_id: str, linked: Sequence[str], unlinked: Sequence[str], changed_at: datetime
) -> int:
    """Newest ``changed_at`` wins per vehicle (events may arrive out of order); how many changed."""
    at = clock.to_utc_iso(changed_at)
    changed = 0
    for ref, owner in [*((r, member_id) for r in linked), *((r, None) for r in unlinked)]:
        item = {**vehicle_key(ref), "entity": "vehicle", "member_id": owner, "changed_at": at}
        ops: list[dict[str, Any]] = [
            put_op(table, item, condition="attribute_not_exists(pk) OR changed_at < :at", values={":at": at})
        ]
        pointer = plate_pointer_key(member_id, ref)
        if owner is not None:
            ops.append(put_op(table, {**pointer, "entity": "plate_ref"}))
        else:
            ops.append({"Delete": {"TableName": table, "Key": to_item(pointer)}})
        try:
            transact_write(ops)
            changed += 1
        except ConditionalCheckFailed:
            continue  # an older event: the projection already holds newer news
    return changed
