"""Earning rules and tiers as operators manage them (``/v1/admin/earning-rules``, ``/v1/admin/tiers``)."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, model_validator

from services.loyalty.models.api import KEY_SAFE_PATTERN, Channel

RuleKind = Literal["base", "multiplier", "cap", "exclusion", "return_window"]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class RuleScope(BaseModel):
    """Where a rule applies; an empty list means "any". ``categories`` match purchase lines."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    store_ids: tuple[str, ...] = ()
    tenant_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    channels: tuple[Channel, ...] = ()


class HourWindow(BaseModel):
    """Local (mall time zone) hours ``start``-``end`` (``HH:MM``, end exclusive; may wrap midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    start: str
    end: str

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not _HHMM.match(self.start) or not _HHMM.match(self.end) or self.start == self.end:
            raise ValueError("start and end must be distinct HH:MM times")
        return self


class EarningRuleIn(BaseModel):
    """One earning rule. By ``kind``:

    * ``base`` — ``points`` per ``per_cents`` spent (e.g. 1 point per 100 cents = 1 per yuan);
      the most specific matching base rule applies (store, then tenant, then mall-wide);
    * ``multiplier`` — ``multiplier_pct`` (200 = double points) on matching lines; multipliers add
      up (x2 and x1.5 give x2.5), optionally limited to ``valid_from``/``valid_until``, local
      ``hours`` and ``days_of_week`` (1 = Monday);
    * ``cap`` — at most ``per_purchase_max`` points per purchase and/or ``per_day_max`` per member
      per local day;
    * ``exclusion`` — matching lines earn nothing (e.g. tobacco, gift cards);
    * ``return_window`` — points of matching purchases stay pending ``days`` days.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: RuleKind
    name: str = Field(min_length=1, max_length=120)
    active: bool = True
    scope: RuleScope = RuleScope()
    points: StrictInt | None = Field(default=None, gt=0, le=10_000)
    per_cents: StrictInt | None = Field(default=None, gt=0, le=10_000_000)
    multiplier_pct: StrictInt | None = Field(default=None, gt=0, le=10_000)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    hours: tuple[HourWindow, ...] = ()
    days_of_week: tuple[StrictInt, ...] = ()
    per_purchase_max: StrictInt | None = Field(default=None, ge=0)
    per_day_max: StrictInt | None = Field(default=None, ge=0)
    days: StrictInt | None = Field(default=None, ge=0, le=365)

    @model_validator(mode="after")
    def _by_kind(self) -> Self:
        needs: dict[str, tuple[str, ...]] = {
            "base": ("points", "per_cents"),
            "multiplier": ("multiplier_pct",),
            "cap": (),
            "exclusion": (),
            "return_window": ("days",),
        }
        missing = [name for name in needs[self.kind] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} rule needs {', '.join(missing)}")
        if self.kind == "cap" and self.per_purchase_max is None and self.per_day_max is None:
            raise ValueError("a cap rule needs per_purchase_max or per_day_max")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if any(d < 1 or d > 7 for d in self.days_of_week):
            raise ValueError("days_of_week are 1 (Monday) to 7 (Sunday)")
        return self


class EarningRule(EarningRuleIn):
    rule_id: str
    version: int = 1


class PurchaseLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    category: str = Field(min_length=1, max_length=64)
    amount_cents: StrictInt = Field(ge=0)


class DryRunRequest(BaseModel):
    """``POST /v1/admin/earning-rules/dry-run``: what would this purchase earn, and why."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    store_id: str = Field(min_length=1, max_length=64, pattern=KEY_SAFE_PATTERN)
    tenant_id: str | None = None
    channel: Channel = "pos"
    amount_cents: StrictInt = Field(gt=0)
    items: list[PurchaseLineIn] = Field(min_length=1, max_length=500)
    occurred_at: AwareDatetime
    tier: str | None = None
    earned_today: StrictInt = Field(default=0, ge=0)


class TierBenefits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    free_parking_hours: StrictInt = Field(default=0, ge=0, le=24)
    points_multiplier_pct: StrictInt = Field(default=100, ge=100, le=1000)


class TierIn(BaseModel):
    """A tier. ``rank`` orders tiers (0 = the base tier everyone starts in). Qualification is on
    points *earned* (or qualifying spend, per the program's ``basis``) in the rolling window:
    reaching ``qualify`` upgrades at once; at the periodic review a member keeps the tier while
    the window holds at least ``retain`` (default: ``qualify``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: str = Field(min_length=1, max_length=60)
    rank: StrictInt = Field(ge=0, le=100)
    qualify: StrictInt = Field(ge=0)
    retain: StrictInt | None = Field(default=None, ge=0)
    benefits: TierBenefits = TierBenefits()

    @model_validator(mode="after")
    def _retain(self) -> Self:
        if self.retain is not None and self.retain > self.qualify:
            raise ValueError("retain must not exceed qualify")
        if self.rank == 0 and self.qualify != 0:
            raise ValueError("the base tier (rank 0) qualifies at 0")
        return self


class Tier(TierIn):
    tier_id: str


class TierProgram(BaseModel):
    """How tiers qualify: ``basis`` points earned or spend (cents), over ``window_months``
    (rolling, whole mall-local months including the current one)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    basis: Literal["points", "spend"] = "points"
    window_months: StrictInt = Field(default=12, ge=1, le=24)


class TierFloorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    tier_id: str | None = Field(description="The manual floor; null removes it.")
    reason: str = Field(min_length=3, max_length=300)
