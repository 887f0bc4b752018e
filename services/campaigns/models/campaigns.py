"""Segments and campaigns: API bodies and the stored definitions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.campaigns.models.dispatch import Channel, ChannelContent, Offer

CampaignKind = Literal["one_off", "scheduled", "triggered"]
CampaignStatus = Literal["draft", "scheduled", "launching", "launched", "active", "cancelled"]
TriggerEvent = Literal["member_registered", "tier_changed", "points_expiring", "coupon_expiring"]
TRIGGER_DETAIL_TYPES: dict[str, TriggerEvent] = {
    "MemberRegistered": "member_registered",
    "TierChanged": "tier_changed",
    "PointsExpiring": "points_expiring",
    "CouponExpiring": "coupon_expiring",
}
VariantName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,32}$")]
Id = Annotated[str, Field(min_length=1, max_length=64)]


class _Model(BaseModel):
    # defer_build: validators are built on first use, so a function that imports this module for
    # one model (the trigger consumer reads Campaign; the API validates one body per request) does
    # not build all of them at its cold start.
    model_config = ConfigDict(defer_build=True)


class _Body(_Model):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class SegmentCreate(_Body):
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    rule: dict[str, Any]


class RulePreview(_Body):
    rule: dict[str, Any]
    sample_size: int = Field(default=10, ge=0, le=50)


class PreviewOptions(_Body):
    sample_size: int = Field(default=10, ge=0, le=50)


class Segment(_Model):
    model_config = ConfigDict(frozen=True, defer_build=True)

    segment_id: str
    name: str
    description: str
    rule: dict[str, Any]
    created_at: datetime
    created_by: str


class SampleMember(_Model):
    member_id: str = Field(description="Masked: the first 4 and last 2 characters.")
    tier: str | None
    points_balance: int | None


class PreviewOut(_Model):
    count: int
    population: int = Field(description="Members in the snapshot.")
    sample: list[SampleMember]
    snapshot_id: str
    snapshot_at: str


class SegmentOut(_Model):
    segment_id: str
    name: str
    description: str
    rule: dict[str, Any]
    created_at: str
    created_by: str


class SegmentPage(_Model):
    items: list[SegmentOut]
    next_token: str | None


class TriggerSpec(_Body):
    event: TriggerEvent
    tiers: list[Id] | None = Field(
        default=None, description="tier_changed only: congratulate on these new tiers (default: any upgrade)."
    )


class VariantSpec(_Body):
    name: VariantName
    content: dict[Channel, ChannelContent] | None = Field(
        default=None, description="This variant's content per channel (default: the campaign's)."
    )
    offer: Offer | None = Field(default=None, description="This variant's offer (default: the campaign's).")


class CampaignCreate(_Body):
    name: str = Field(min_length=1, max_length=120)
    kind: CampaignKind
    segment_id: Id | None = None
    trigger: TriggerSpec | None = None
    scheduled_at: datetime | None = Field(
        default=None, description="scheduled only: ISO date-time; without an offset it is mall time."
    )
    channels: list[Channel] = Field(min_length=1, max_length=4, description="Preference order.")
    content: dict[Channel, ChannelContent]
    offer: Offer | None = None
    priority: int = Field(default=50, ge=0, le=100)
    variants: list[VariantSpec] = Field(default_factory=list, max_length=6)
    holdout_percent: int = Field(default=0, ge=0, le=50)
    attribution_days: int = Field(default=7, ge=1, le=30)


class CampaignPatch(_Body):
    """``PATCH /v1/admin/campaigns/{id}`` (drafts only): the fields given replace the stored ones
    (``null`` clears an optional one, e.g. the offer); the result is checked like a new campaign."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: CampaignKind | None = None
    segment_id: Id | None = None
    trigger: TriggerSpec | None = None
    scheduled_at: datetime | None = None
    channels: list[Channel] | None = Field(default=None, min_length=1, max_length=4)
    content: dict[Channel, ChannelContent] | None = None
    offer: Offer | None = None
    priority: int | None = Field(default=None, ge=0, le=100)
    variants: list[VariantSpec] | None = Field(default=None, max_length=6)
    holdout_percent: int | None = Field(default=None, ge=0, le=50)
    attribution_days: int | None = Field(default=None, ge=1, le=30)


class Campaign(BaseModel):
    """A stored campaign (the definition plus its lifecycle)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    campaign_id: str
    name: str
    kind: CampaignKind
    status: CampaignStatus
    segment_id: str | None
    segment_rule: dict[str, Any] | None = Field(
        default=None, description="The segment's rule, copied at creation (a triggered campaign's filter)."
    )
    trigger: TriggerSpec | None
    scheduled_at: datetime | None
    channels: list[Channel]
    content: dict[Channel, ChannelContent]
    offer: Offer | None
    priority: int
    variants: list[VariantSpec]
    holdout_percent: int
    attribution_days: int
    created_at: datetime
    created_by: str
    launched_at: datetime | None = None
    snapshot_id: str | None = None
    schedule_name: str | None = None
    offer_valid_days: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    revision: int = Field(default=0, description="Edits of the draft so far (optimistic concurrency).")
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None

    def create_fields(self) -> dict[str, Any]:
        """The definition as a :class:`CampaignCreate` body (what a PATCH merges into)."""
        return self.model_dump(mode="json", include=set(CampaignCreate.model_fields))

    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants]

    def variant(self, name: str) -> VariantSpec | None:
        return next((v for v in self.variants if v.name == name), None)


class CampaignOut(_Model):
    campaign: dict[str, Any]


class CampaignPage(_Model):
    items: list[dict[str, Any]]
    next_token: str | None
