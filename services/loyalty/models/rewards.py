"""The rewards catalogue and redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.loyalty.models.api import KEY_SAFE_PATTERN
from services.loyalty.models.coupons import Key

RewardKind = Literal["gift", "coupon"]
RewardStatus = Literal["active", "paused", "retired"]


class RewardIn(BaseModel):
    """``POST /v1/admin/rewards``. ``stock`` null: unlimited. ``coupon`` rewards issue a coupon of
    ``template_id`` (reason ``reward``); ``gift`` rewards give a pick-up code for the service desk."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    reward_id: Key
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    kind: RewardKind = "gift"
    template_id: Key | None = None
    points_cost: StrictInt = Field(gt=0, le=10_000_000)
    stock: StrictInt | None = Field(default=None, ge=0, le=10_000_000)
    per_member_limit: StrictInt | None = Field(default=None, ge=1, le=10_000)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "coupon" and not self.template_id:
            raise ValueError("template_id is required for a coupon reward")
        if self.kind == "gift" and self.template_id:
            raise ValueError("template_id is only for coupon rewards")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class RewardPatch(BaseModel):
    """``PATCH /v1/admin/rewards/{id}``: the cost, kind and template are fixed once published."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    status: Literal["active", "paused"] | None = None
    valid_until: AwareDatetime | None = None
    per_member_limit: StrictInt | None = Field(default=None, ge=1, le=10_000)
    add_stock: StrictInt | None = Field(default=None, ge=1, le=10_000_000)


class Reward(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    reward_id: str
    name: str
    description: str | None = None
    kind: RewardKind
    template_id: str | None = None
    points_cost: int
    stock_tracked: bool
    per_member_limit: int | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    status: RewardStatus = "active"
    created_at: datetime
    created_by: str

    def available_at(self, now: datetime) -> bool:
        return (
            self.status == "active"
            and (self.valid_from is None or self.valid_from <= now)
            and (self.valid_until is None or now < self.valid_until)
        )


class RedemptionRequest(BaseModel):
    """``POST /v1/members/me/redemptions``; ``request_id`` makes a retry harmless."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    request_id: str = Field(min_length=8, max_length=128, pattern=KEY_SAFE_PATTERN)
    reward_id: Key


class Redemption(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    redemption_id: str
    request_id: str
    member_id: str
    reward_id: str
    reward_name: str
    kind: RewardKind
    points: int
    movement_id: str
    balance_after: int
    coupon_id: str | None = None
    pickup_code: str | None = None
    redeemed_at: datetime
    returned_at: datetime | None = None
    """Set when staff reversed the redemption (the gift was not collected or came back)."""
    return_movement_id: str | None = None
    """The ``reversal`` movement that gave the points back."""
