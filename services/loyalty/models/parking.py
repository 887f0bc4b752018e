"""Parking sessions (signed, from the car park) and the member's quote and fee offset."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.loyalty.models.api import KEY_SAFE_PATTERN, SOURCE_PATTERN


class ParkingSessionIn(BaseModel):
    """``POST /v1/integrations/parking-sessions``: an entry (no ``exited_at``) or an exit with the
    car park's fee. Once per ``(source_system, external_id)`` and state."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    external_id: str = Field(min_length=1, max_length=128, pattern=KEY_SAFE_PATTERN)
    source_system: str = Field(pattern=SOURCE_PATTERN)
    plate: str = Field(min_length=5, max_length=16)
    entered_at: AwareDatetime
    exited_at: AwareDatetime | None = None
    fee_cents: StrictInt | None = Field(default=None, ge=0, le=10_000_000)

    @model_validator(mode="after")
    def _exit(self) -> Self:
        if (self.exited_at is None) != (self.fee_cents is None):
            raise ValueError("exited_at and fee_cents come together (an exit) or not at all (an entry)")
        if self.exited_at is not None and self.exited_at <= self.entered_at:
            raise ValueError("exited_at must be after entered_at")
        return self


class OffsetRequest(BaseModel):
    """``POST /v1/members/me/parking/{plate}/offset``: pay the remaining fee with points or a parking
    coupon (its code, as in the wallet)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    request_id: str = Field(min_length=8, max_length=128, pattern=KEY_SAFE_PATTERN)
    method: Literal["points", "coupon"]
    coupon_code: str | None = Field(default=None, min_length=8, max_length=32, pattern=r"^[0-9A-Za-z-]+$")

    @model_validator(mode="after")
    def _coupon(self) -> Self:
        if (self.method == "coupon") != (self.coupon_code is not None):
            raise ValueError("coupon_code is required for method coupon, and only for it")
        return self


class ParkingSession(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    session_id: str
    source_system: str
    external_id: str
    vehicle_ref: str
    entered_at: datetime
    status: Literal["open", "settled"] = "open"
    exited_at: datetime | None = None
    fee_cents: int | None = None
    member_id: str | None = None
    free_minutes_applied: int = 0
    free_cents: int = 0
    offset_cents: int = 0
    offset_method: Literal["points", "coupon"] | None = None
    offset_points: int | None = None
    offset_coupon_id: str | None = None
    offset_member_id: str | None = None
    offset_request_id: str | None = None
    paid_cents: int | None = None
    settled_at: datetime | None = None
