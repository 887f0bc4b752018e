"""Purchase and reward-redemption items ↔ their models, defined once here.

dal/purchases.py and dal/rewards.py re-use these; the MemberExportRequested consumer reads these
items without loading those repositories, the ledger and their logic (issue 2: cold imports), so
this module imports only the two models, dal/keys.py and ``shared.clock``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.loyalty.dal.keys import dt, iso, member_partition, purchase_key, redemption_key
from services.loyalty.models.entities import Purchase, PurchaseLine
from services.loyalty.models.rewards import Redemption
from shared import clock


def purchase_item(purchase: Purchase) -> dict[str, Any]:
    occurred_at = clock.to_utc_iso(purchase.occurred_at)
    by_member = (
        {
            "gsi1pk": member_partition(purchase.member_id),
            "gsi1sk": f"{occurred_at}#{purchase.purchase_id}",
        }
        if purchase.member_id
        else {}
    )
    erased = (
        {"member_status": purchase.member_status, "member_pseudonymised": True}
        if purchase.member_status
        else {}
    )
    return {
        **purchase_key(purchase.source_system, purchase.external_id),
        **by_member,
        "entity": "purchase",
        "purchase_id": purchase.purchase_id,
        "external_id": purchase.external_id,
        "source_system": purchase.source_system,
        "store_id": purchase.store_id,
        "tenant_id": purchase.tenant_id,
        "member_id": purchase.member_id,
        "amount_cents": purchase.amount_cents,
        "currency": purchase.currency,
        "channel": purchase.channel,
        # What ``line.model_dump()`` gives, without pydantic's serializer per line (hot path).
        "items": [
            {
                "sku": line.sku,
                "category": line.category,
                "quantity": line.quantity,
                "amount_cents": line.amount_cents,
            }
            for line in purchase.items
        ],
        "occurred_at": occurred_at,
        "recorded_at": clock.to_utc_iso(purchase.recorded_at),
        "fingerprint": purchase.fingerprint,
        "points_earned": purchase.points_earned,
        "points_movement_id": purchase.points_movement_id,
        "refunded_cents": purchase.refunded_cents,
        **erased,
    }


def purchase_from_item(item: dict[str, Any]) -> Purchase:
    return Purchase(
        purchase_id=item["purchase_id"],
        external_id=item["external_id"],
        source_system=item["source_system"],
        store_id=item["store_id"],
        tenant_id=item.get("tenant_id"),
        member_id=item.get("member_id"),
        amount_cents=item["amount_cents"],
        currency=item["currency"],
        channel=item["channel"],
        items=tuple(PurchaseLine(**line) for line in item.get("items", [])),
        occurred_at=clock.parse_iso(item["occurred_at"]),
        recorded_at=clock.parse_iso(item["recorded_at"]),
        fingerprint=item["fingerprint"],
        member_status=item.get("member_status"),
        points_earned=item.get("points_earned"),
        points_movement_id=item.get("points_movement_id"),
        refunded_cents=item.get("refunded_cents", 0),
    )


def redemption_item(r: Redemption) -> dict[str, Any]:
    returned = {"returned_at": iso(r.returned_at), "return_movement_id": r.return_movement_id}
    return {
        **redemption_key(r.member_id, r.request_id),
        "entity": "redemption",
        **r.model_dump(exclude={"redeemed_at", "returned_at", "return_movement_id"}),
        "redeemed_at": iso(r.redeemed_at),
        **(returned if r.returned_at is not None else {}),
    }


def redemption_from_item(item: Mapping[str, Any]) -> Redemption:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity")}
    data["redeemed_at"] = dt(item.get("redeemed_at"))
    data["returned_at"] = dt(item.get("returned_at"))
    return Redemption.model_validate(data)
