"""Coupon templates, issued coupons and their API bodies.

A **template** says what a coupon is worth (amount off, percent off with a cap, a gift, parking
time), where and when it may be used, how many may be issued (per member and in all) and the
budget it draws on, with who funds it (the mall or a tenant). A **coupon** is one issue of a
template to one member: an unguessable code, a validity window, a status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.loyalty.models.api import KEY_SAFE_PATTERN, MEMBER_ID_PATTERN

CouponKind = Literal["amount_off", "percent_off", "gift", "parking"]
TemplateStatus = Literal["active", "paused", "retired"]
Funder = Literal["mall", "tenant"]
IssueReason = Literal["birthday", "campaign", "win_back", "reward", "manual", "tier_benefit"]
CouponStatus = Literal["issued", "redeemed", "expired", "revoked"]

Key = Annotated[str, Field(min_length=1, max_length=64, pattern=KEY_SAFE_PATTERN)]
PositiveCents = Annotated[StrictInt, Field(gt=0, le=1_000_000_000)]
MAX_VALID_DAYS = 3660


class CouponTemplateIn(BaseModel):
    """``POST /v1/admin/coupon-templates``. Unknown fields are rejected.

    Validity: ``valid_until`` (an absolute end) and/or ``valid_days`` (each coupon is valid until
    the end of the N-th local day after its issue) — at least one. ``valid_from`` delays the start.
    A budget is counted in face value: ``amount_off_cents``, ``max_discount_cents`` (percent off:
    required with a budget) or ``face_value_cents`` (gift, parking).
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    template_id: Key
    name: str = Field(min_length=1, max_length=100)
    kind: CouponKind
    amount_off_cents: PositiveCents | None = None
    percent_off: StrictInt | None = Field(default=None, ge=1, le=100)
    max_discount_cents: PositiveCents | None = None
    face_value_cents: PositiveCents | None = None
    parking_minutes: StrictInt | None = Field(default=None, gt=0, le=24 * 60)
    min_spend_cents: StrictInt = Field(default=0, ge=0, le=1_000_000_000)
    store_ids: list[Key] = Field(default_factory=list, max_length=500, description="Empty: every store.")
    tenant_ids: list[Key] = Field(default_factory=list, max_length=500, description="Empty: every tenant.")
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    valid_days: StrictInt | None = Field(default=None, ge=1, le=MAX_VALID_DAYS)
    per_member_limit: StrictInt | None = Field(default=None, ge=1, le=10_000)
    total_limit: StrictInt | None = Field(default=None, ge=1, le=100_000_000)
    budget_cents: StrictInt | None = Field(default=None, ge=1, le=100_000_000_000)
    funded_by: Funder = "mall"
    funder_tenant_id: Key | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems: list[str] = []
        if self.kind == "amount_off" and self.amount_off_cents is None:
            problems.append("amount_off_cents is required for amount_off")
        if self.kind == "percent_off" and self.percent_off is None:
            problems.append("percent_off is required for percent_off")
        if self.kind in ("gift", "parking") and self.face_value_cents is None:
            problems.append("face_value_cents is required for gift and parking coupons")
        if self.kind == "parking" and self.parking_minutes is None:
            problems.append("parking_minutes is required for parking coupons")
        if self.kind == "percent_off" and self.budget_cents is not None and self.max_discount_cents is None:
            problems.append("a budgeted percent_off template needs max_discount_cents")
        if self.valid_until is None and self.valid_days is None:
            problems.append("give valid_until, valid_days or both")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            problems.append("valid_until must be after valid_from")
        if self.funded_by == "tenant" and not self.funder_tenant_id:
            problems.append("funder_tenant_id is required when a tenant funds the coupon")
        if self.funded_by == "mall" and self.funder_tenant_id:
            problems.append("funder_tenant_id is only for tenant-funded coupons")
        if problems:
            # One message per problem; pydantic reports it under the model (field "body").
            raise ValueError("; ".join(problems))
        return self


class CouponTemplatePatch(BaseModel):
    """``PATCH /v1/admin/coupon-templates/{id}``: what may change once coupons exist. Money, kind
    and where a coupon is valid are fixed (issued coupons carry them); the budget only grows."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    status: Literal["active", "paused"] | None = None
    valid_until: AwareDatetime | None = None
    per_member_limit: StrictInt | None = Field(default=None, ge=1, le=10_000)
    add_budget_cents: StrictInt | None = Field(default=None, ge=1, le=100_000_000_000)
    add_total_limit: StrictInt | None = Field(default=None, ge=1, le=100_000_000)


class CouponTemplate(BaseModel):
    """A stored template (the request plus status and bookkeeping)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    template_id: str
    name: str
    kind: CouponKind
    amount_off_cents: int | None = None
    percent_off: int | None = None
    max_discount_cents: int | None = None
    face_value_cents: int | None = None
    parking_minutes: int | None = None
    min_spend_cents: int = 0
    store_ids: tuple[str, ...] = ()
    tenant_ids: tuple[str, ...] = ()
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    per_member_limit: int | None = None
    total_limit: int | None = None
    budget_cents: int | None = None
    funded_by: Funder = "mall"
    funder_tenant_id: str | None = None
    status: TemplateStatus = "active"
    budget_shards: int = 0
    """How many counter shards hold the remaining budget/limit (0: unlimited, no counter)."""
    created_at: datetime
    created_by: str

    @property
    def unit_cost_cents(self) -> int:
        """What one issued coupon commits of the budget (its face value)."""
        if self.kind == "amount_off":
            return self.amount_off_cents or 0
        if self.kind == "percent_off":
            return self.max_discount_cents or 0
        return self.face_value_cents or 0

    @property
    def counted(self) -> bool:
        return self.budget_cents is not None or self.total_limit is not None


class Coupon(BaseModel):
    """One coupon in a member's wallet; ``code`` is what the member shows at the till."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    coupon_id: str
    code: str
    template_id: str
    member_id: str
    campaign_id: str | None = None
    reason: IssueReason
    kind: CouponKind
    name: str
    amount_off_cents: int | None = None
    percent_off: int | None = None
    max_discount_cents: int | None = None
    face_value_cents: int | None = None
    parking_minutes: int | None = None
    min_spend_cents: int = 0
    store_ids: tuple[str, ...] = ()
    tenant_ids: tuple[str, ...] = ()
    funded_by: Funder = "mall"
    funder_tenant_id: str | None = None
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    status: CouponStatus = "issued"
    redeemed_at: datetime | None = None
    redeemed_store_id: str | None = None
    discount_cents: int | None = None
    budget_shard: int | None = None
    redeem_request_id: str | None = None
    """The till's ``request_id`` of the redemption: its retry answers the same redemption."""


class StaffIssueRequest(BaseModel):
    """``POST /v1/admin/coupons``: staff hand a coupon to a member (reason ``manual``)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    request_id: str = Field(min_length=8, max_length=128, pattern=KEY_SAFE_PATTERN)
    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    template_id: Key
    note: str | None = Field(default=None, max_length=500)


class RedeemRequest(BaseModel):
    """``POST /v1/admin/coupons/redeem``: the code the member shows, the member it was verified for
    (member code at the till), where, and the purchase amount (for minimum spend and percent off)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    code: str = Field(min_length=8, max_length=32, pattern=r"^[0-9A-Za-z-]+$")
    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    store_id: Key
    tenant_id: Key | None = None
    purchase_amount_cents: StrictInt = Field(default=0, ge=0, le=10_000_000_000)
    request_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=128,
        pattern=KEY_SAFE_PATTERN,
        description="Set by the till: a retry with the same id answers the first redemption (200, replayed).",
    )


class CouponOut(BaseModel):
    model_config = ConfigDict(defer_build=True)

    coupon_id: str
    code: str
    template_id: str
    name: str
    kind: CouponKind
    amount_off_cents: int | None
    percent_off: int | None
    max_discount_cents: int | None
    face_value_cents: int | None
    parking_minutes: int | None
    min_spend_cents: int
    store_ids: list[str]
    tenant_ids: list[str]
    valid_from: str
    valid_until: str
    status: CouponStatus
    issued_at: str
    redeemed_at: str | None
    discount_cents: int | None


class RedeemResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)

    coupon_id: str
    template_id: str
    member_id: str
    store_id: str
    discount_cents: int
    redeemed_at: str
    funded_by: Funder
    funder_tenant_id: str | None
