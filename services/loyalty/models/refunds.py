"""``POST /v1/integrations/refunds``: bodies, and the refund as an ingested fact."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

from services.loyalty.models.api import KEY_SAFE_PATTERN, SOURCE_PATTERN


class RefundRequest(BaseModel):
    """A refund, full or partial, of a purchase the same source sent before
    (``purchase_external_id``). Exactly-once per ``(source_system, external_id)``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    external_id: str = Field(min_length=1, max_length=128, pattern=KEY_SAFE_PATTERN)
    source_system: str = Field(pattern=SOURCE_PATTERN)
    purchase_external_id: str = Field(min_length=1, max_length=128, pattern=KEY_SAFE_PATTERN)
    store_id: str = Field(min_length=1, max_length=64, pattern=KEY_SAFE_PATTERN)
    amount_cents: StrictInt = Field(gt=0, le=10_000_000_000)
    currency: Literal["CNY"]
    occurred_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=200)


class Refund(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    refund_id: str
    external_id: str
    source_system: str
    purchase_id: str
    purchase_external_id: str
    store_id: str
    amount_cents: int
    currency: str
    full_refund: bool
    points_clawed_back: int | None
    movement_id: str | None
    occurred_at: datetime
    recorded_at: datetime
    fingerprint: str


class RefundResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    refund_id: str
    external_id: str
    source_system: str
    purchase_id: str
    purchase_external_id: str
    store_id: str
    amount_cents: int
    currency: str
    full_refund: bool
    points_clawed_back: int | None = Field(description="Points taken back (null: the purchase earned none).")
    occurred_at: str
    recorded_at: str
    replayed: bool
