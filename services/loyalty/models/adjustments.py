"""Staff points adjustments: requested with a reason, applied only when a second person approves.

A request names either ``points`` (a correction) or ``reverses`` (a movement of the member's to
reverse: the adjustment's ``points`` are then the reversal's, the movement's opposite)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from services.loyalty.models.api import KEY_SAFE_PATTERN, MEMBER_ID_PATTERN

AdjustmentStatus = Literal["pending", "applied", "rejected"]
MAX_ADJUSTMENT = 1_000_000
MOVEMENT_ID_PATTERN = MEMBER_ID_PATTERN
"""Movements are ULIDs, like member ids."""


class _Points(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    points: StrictInt | None = Field(
        default=None,
        ge=-MAX_ADJUSTMENT,
        le=MAX_ADJUSTMENT,
        description="Signed, never 0. Either this or ``reverses``.",
    )
    reverses: str | None = Field(
        default=None,
        pattern=MOVEMENT_ID_PATTERN,
        description="A movement id of the member's (GET .../points/movements) to reverse, instead of points.",
    )
    reason: str = Field(min_length=3, max_length=200, description="Required: why (shown in the audit log).")
    request_id: str | None = Field(default=None, min_length=8, max_length=128, pattern=KEY_SAFE_PATTERN)

    @field_validator("points")
    @classmethod
    def _non_zero(cls, value: int | None) -> int | None:
        if value == 0:
            raise ValueError("points must not be zero")
        return value

    @model_validator(mode="after")
    def _points_or_reversal(self) -> _Points:
        if (self.points is None) == (self.reverses is None):
            raise ValueError("give either points or reverses (a movement id), not both")
        return self

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a reason is required")
        return value.strip()


class AdjustmentRequest(_Points):
    """``POST /v1/admin/points-adjustments``."""

    member_id: str = Field(pattern=MEMBER_ID_PATTERN)


class MemberAdjustmentRequest(_Points):
    """``POST /v1/admin/members/{id}/points-adjustments`` (the member is in the path)."""


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: str = Field(min_length=3, max_length=200)


class Adjustment(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    adjustment_id: str
    member_id: str
    points: int
    reason: str
    ticket_id: str | None = None
    source: Literal["staff", "ticket"] = "staff"
    requested_by: str
    requested_at: datetime
    status: AdjustmentStatus = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    rejection_reason: str | None = None
    reverses: str | None = None
    """The movement this adjustment reverses (its ``points`` are then the movement's opposite)."""
    movement_id: str | None = None
    balance_after: int | None = None
