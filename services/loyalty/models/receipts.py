"""Receipt-photo claims: a member photographs a till receipt and claims its points."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from services.loyalty.models.coupons import Key

ReceiptStatus = Literal["pending", "approved", "rejected"]
RECEIPT_TEXT = r"^[A-Za-z0-9_.:/-]+$"


class ReceiptClaimIn(BaseModel):
    """``POST /v1/members/me/receipts``. ``image_key`` is the object key of the uploaded photo."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    store_id: Key
    receipt_number: str = Field(min_length=1, max_length=64, pattern=RECEIPT_TEXT)
    machine_number: str = Field(min_length=1, max_length=64, pattern=RECEIPT_TEXT)
    purchased_at: AwareDatetime
    amount_cents: StrictInt = Field(gt=0, le=100_000_000)
    image_key: str = Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_.:/=-]+$")


class ReceiptSettings(BaseModel):
    """``PUT /v1/admin/receipt-settings``: what is approved without a reviewer."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    auto_approve_below_cents: StrictInt = Field(default=0, ge=0, le=100_000_000)
    known_store_ids: list[Key] = Field(default_factory=list, max_length=2000)
    max_age_days: StrictInt = Field(default=30, ge=1, le=365)


class ReceiptDecision(BaseModel):
    """Approve: optionally correct the amount (the photo shows another total). Reject: a reason."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    amount_cents: StrictInt | None = Field(default=None, gt=0, le=100_000_000)


class ReceiptRejection(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: str = Field(min_length=3, max_length=200)


class ReceiptClaim(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    receipt_id: str
    member_id: str
    store_id: str
    receipt_number: str
    machine_number: str
    purchased_at: datetime
    amount_cents: int
    image_key: str
    submitted_at: datetime
    status: ReceiptStatus = "pending"
    auto_approved: bool = False
    points: int | None = None
    movement_id: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    rejection_reason: str | None = None
