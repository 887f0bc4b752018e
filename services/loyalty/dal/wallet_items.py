"""Coupon, receipt-claim and points-adjustment items ↔ their models, defined once here.

The repositories (dal/coupons.py, receipts.py, adjustments.py) re-use these; the MemberErased and
MemberExportRequested consumers read these items without loading the repositories (issue 2: cold
imports), so this module imports only the three models and dal/keys.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.loyalty.dal.keys import adjustment_key, claim_key, coupon_key, dt, iso
from services.loyalty.models.adjustments import Adjustment
from services.loyalty.models.coupons import Coupon
from services.loyalty.models.receipts import ReceiptClaim

_COUPON_TIMES = ("valid_from", "valid_until", "issued_at", "redeemed_at")
_CLAIM_TIMES = ("purchased_at", "submitted_at", "decided_at")
_ADJUSTMENT_TIMES = ("requested_at", "decided_at")


def coupon_item(c: Coupon) -> dict[str, Any]:
    data = c.model_dump(exclude=set(_COUPON_TIMES))
    data["store_ids"] = list(c.store_ids)
    data["tenant_ids"] = list(c.tenant_ids)
    return {
        **coupon_key(c.member_id, c.coupon_id),
        "entity": "coupon",
        **data,
        **{k: iso(getattr(c, k)) for k in _COUPON_TIMES},
    }


def coupon_from_item(item: dict[str, Any]) -> Coupon:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity", "redeemed_by")}
    for k in _COUPON_TIMES:
        data[k] = dt(item.get(k))
    data["store_ids"] = tuple(item.get("store_ids") or ())
    data["tenant_ids"] = tuple(item.get("tenant_ids") or ())
    return Coupon.model_validate(data)


def claim_item(c: ReceiptClaim) -> dict[str, Any]:
    return {
        **claim_key(c.receipt_id),
        "entity": "receipt_claim",
        **c.model_dump(exclude=set(_CLAIM_TIMES)),
        **{k: iso(getattr(c, k)) for k in _CLAIM_TIMES},
    }


def claim_from_item(item: Mapping[str, Any]) -> ReceiptClaim:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity")}
    for k in _CLAIM_TIMES:
        data[k] = dt(item.get(k))
    return ReceiptClaim.model_validate(data)


def adjustment_item(a: Adjustment) -> dict[str, Any]:
    return {
        **adjustment_key(a.adjustment_id),
        "entity": "points_adjustment",
        **a.model_dump(exclude=set(_ADJUSTMENT_TIMES)),
        **{k: iso(getattr(a, k)) for k in _ADJUSTMENT_TIMES},
    }


def adjustment_from_item(item: Mapping[str, Any]) -> Adjustment:
    data = {k: v for k, v in item.items() if k not in ("pk", "sk", "entity", "member_pseudonymised")}
    for k in _ADJUSTMENT_TIMES:
        data[k] = dt(item.get(k))
    return Adjustment.model_validate(data)
