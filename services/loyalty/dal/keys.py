"""LoyaltyTable keys (and the time format they and the items share), defined once here.

The repositories (dal/coupons.py, purchases.py, receipts.py, adjustments.py, ledger.py …) import
their keys from this module, so does everything that only needs to *find* an item: the
MemberErased and MemberExportRequested consumers build keys for many kinds of items and must not
load every repository, its logic and its event models to do so (issue 2: cold imports). Only the
standard library and ``shared.clock`` are imported; models are named for typing only.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from services.loyalty.logic.coupon_index import expiry_shard
from shared import clock

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.loyalty.models.adjustments import Adjustment
    from services.loyalty.models.coupons import Coupon
    from services.loyalty.models.receipts import ReceiptClaim


def iso(value: datetime | None) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def dt(value: Any) -> datetime | None:
    return clock.parse_iso(str(value)) if value else None


# --- purchases and erasure -------------------------------------------------------------------


def tombstone_key(alias: str) -> dict[str, str]:
    """Loyalty's erasure tombstone: keyed by the pseudonym, never by the member id."""
    return {"pk": f"ERASED#{alias}", "sk": "ERASED"}


def purchase_key(source_system: str, external_id: str) -> dict[str, str]:
    return {"pk": f"PURCHASE#{source_system}#{external_id}", "sk": "PURCHASE"}


def member_partition(member_id: str) -> str:
    return f"MEMBER#{member_id}"


# --- the points ledger ------------------------------------------------------------------------

BALANCE_SK = "BALANCE"


def ledger_pk(ledger_id: str) -> str:
    return f"LEDGER#{ledger_id}"


# --- the wallet: coupons ----------------------------------------------------------------------


def wallet_pk(member_id: str) -> str:
    return f"WALLET#{member_id}"


def coupon_key(member_id: str, coupon_id: str) -> dict[str, str]:
    return {"pk": wallet_pk(member_id), "sk": f"COUPON#{coupon_id}"}


def code_key(code: str) -> dict[str, str]:
    return {"pk": f"COUPON_CODE#{code}", "sk": "CODE"}


def expiry_pk(day: str, shard: int) -> str:
    return f"COUPON_EXPIRY#{day}#{shard}"


def expiry_key(coupon: Coupon, tz: tzinfo) -> dict[str, str]:
    day = coupon.valid_until.astimezone(tz).date().isoformat()
    return {"pk": expiry_pk(day, expiry_shard(coupon.coupon_id)), "sk": coupon.coupon_id}


# --- the wallet: receipt claims ---------------------------------------------------------------

RECEIPT_QUEUE_PK = "RECEIPT_QUEUE"


def claim_key(receipt_id: str) -> dict[str, str]:
    return {"pk": f"RECEIPT#{receipt_id}", "sk": "RECEIPT"}


def receipt_queue_key(claim: ReceiptClaim) -> dict[str, str]:
    return {"pk": RECEIPT_QUEUE_PK, "sk": f"{iso(claim.submitted_at)}#{claim.receipt_id}"}


# --- the wallet: points adjustments -----------------------------------------------------------

ADJUSTMENT_QUEUE_PK = "ADJUSTMENT_QUEUE"


def adjustment_key(adjustment_id: str) -> dict[str, str]:
    return {"pk": f"ADJUSTMENT#{adjustment_id}", "sk": "ADJUSTMENT"}


def adjustment_queue_key(a: Adjustment) -> dict[str, str]:
    return {"pk": ADJUSTMENT_QUEUE_PK, "sk": f"{iso(a.requested_at)}#{a.adjustment_id}"}


# --- the wallet: reward redemptions -----------------------------------------------------------


def redemption_key(member_id: str, request_id: str) -> dict[str, str]:
    return {"pk": wallet_pk(member_id), "sk": f"REDEMPTION#{request_id}"}
