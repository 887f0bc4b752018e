"""Segments and campaigns: creation (everything checked before anything is written) and launch
requests. Launching itself is logic/launch.py; triggered sends are logic/triggers.py."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from services.campaigns.logic.planning_errors import (
    CampaignChanged,
    CampaignNotCancellable,
    CampaignNotEditable,
    CampaignNotFound,
    CampaignNotLaunchable,
    InvalidCampaign,
    InvalidSegmentRule,
    NoAudienceSnapshot,
    SegmentNotFound,
)
from services.campaigns.logic.segments import InvalidRule, Rule, parse_rule
from services.campaigns.logic.snapshots import Audience
from services.campaigns.models.campaigns import (
    Campaign,
    CampaignCreate,
    CampaignPatch,
    PreviewOut,
    SampleMember,
    Segment,
    SegmentCreate,
)
from services.campaigns.models.dispatch import ChannelContent
from shared import clock
from shared.events.contracts import CampaignLaunched
from shared.ids import new_ulid

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
COMMON_FIELDS = frozenset({"tier", "points_balance"})
TRIGGER_FIELDS: dict[str, frozenset[str]] = {
    "member_registered": frozenset(),
    "tier_changed": frozenset({"new_tier", "previous_tier"}),
    "points_expiring": frozenset({"expiring_points", "expires_on", "days_left"}),
    "coupon_expiring": frozenset({"coupon_valid_until", "days_left", "template_id"}),
}
OFFER_FIELDS: dict[str, frozenset[str]] = {
    "coupon": frozenset({"coupon_id", "coupon_valid_until"}),  # dispatch fills them when it issues
    "points": frozenset({"points"}),
}
MIN_SCHEDULE_LEAD = timedelta(minutes=1)


# --- ports -------------------------------------------------------------------------------------


class SegmentRepository(Protocol):
    def put(self, segment: Segment) -> None: ...

    def get(self, segment_id: str) -> Segment | None: ...


@dataclass(frozen=True)
class TemplateInfo:
    exists: bool
    kind: str | None = None
    valid_days: int | None = None
    status: str | None = None


class OfferCatalogue(Protocol):
    def describe_template(self, template_id: str) -> TemplateInfo: ...


class CampaignRepository(Protocol):
    def create(self, campaign: Campaign) -> None: ...

    def get(self, campaign_id: str) -> Campaign | None: ...

    def start_launch(self, campaign_id: str, now: datetime) -> Campaign:
        """draft|scheduled → launching (ConditionalCheckFailed as :class:`CampaignNotLaunchable`)."""

    def activate(self, campaign: Campaign, now: datetime, launched_event: CampaignLaunched) -> Campaign:
        """draft → active, with the trigger index item (triggered campaigns)."""

    def replace_draft(self, campaign: Campaign, *, expected_revision: int) -> None:
        """Store an edited draft (still ``draft``, same revision as read; else :class:`CampaignChanged`
        or :class:`CampaignNotEditable`)."""

    def cancel(self, campaign: Campaign, *, cancelled_by: str, now: datetime) -> Campaign:
        """``campaign.status`` (as read) → cancelled, with the dispatch marker; a triggered one
        leaves the trigger index. :class:`CampaignChanged` when the status moved meanwhile."""


class LaunchScheduler(Protocol):
    def schedule_launch(self, campaign_id: str, at_local: datetime, timezone: str) -> str:
        """An EventBridge Scheduler one-time schedule that asks for the launch; its name."""

    def delete_launch_schedule(self, name: str) -> None:
        """Delete a pending launch schedule (gone already — fired or deleted — is fine)."""


class LaunchQueue(Protocol):
    def request_launch(self, campaign_id: str, cursor: int = 0) -> None: ...


# --- segments ----------------------------------------------------------------------------------


def checked_rule(raw: object, path: str = "rule") -> Rule:
    try:
        return parse_rule(raw, path)
    except InvalidRule as invalid:
        raise InvalidSegmentRule(fields=invalid.fields) from invalid


def create_segment(body: SegmentCreate, repo: SegmentRepository, created_by: str, now: datetime) -> Segment:
    checked_rule(body.rule)
    segment = Segment(
        segment_id=new_ulid(now),
        name=body.name,
        description=body.description,
        rule=body.rule,
        created_at=now,
        created_by=created_by,
    )
    repo.put(segment)
    return segment


def get_segment(segment_id: str, repo: SegmentRepository) -> Segment:
    segment = repo.get(segment_id)
    if segment is None:
        raise SegmentNotFound()
    return segment


def mask_member_id(member_id: str) -> str:
    """Enough to tell sample rows apart, not enough to look a member up."""
    return member_id[:4] + "…" + member_id[-2:] if len(member_id) > 6 else "…"


def preview(rule: Rule, audience: Audience | None, now: datetime, sample_size: int) -> PreviewOut:
    """Count and a masked sample from the latest snapshot (bitmaps: no table read at all)."""
    if audience is None:
        raise NoAudienceSnapshot()
    count = 0
    sample: list[SampleMember] = []
    for shard in audience.shards:
        bits = shard.evaluate(rule, now)
        count += bits.bit_count()
        while bits and len(sample) < sample_size:
            row = (bits & -bits).bit_length() - 1
            bits &= bits - 1
            sample.append(
                SampleMember(
                    member_id=mask_member_id(shard.members[row]),
                    tier=shard.tiers[row],
                    points_balance=shard.points[row],
                )
            )
    return PreviewOut(
        count=count,
        population=sum(s.size for s in audience.shards),
        sample=sample,
        snapshot_id=audience.manifest.snapshot_id,
        snapshot_at=clock.to_utc_iso(audience.manifest.created_at),
    )


# --- campaigns ---------------------------------------------------------------------------------


def _placeholders(content: ChannelContent) -> set[str]:
    texts = [content.body] + ([content.title] if content.title else [])
    return {m for text in texts for m in _PLACEHOLDER.findall(text)}


def _content_errors(
    contents: Mapping[Any, ChannelContent] | None, channels: Iterable[str], allowed: frozenset[str], path: str
) -> list[dict[str, str]]:
    if contents is None:
        return []
    errors = [
        {"field": f"{path}.{channel}", "message": f"no content for channel {channel}"}
        for channel in channels
        if channel not in contents
    ]
    for channel, content in sorted(contents.items()):
        unknown = sorted(_placeholders(content) - allowed)
        if unknown:
            errors.append(
                {
                    "field": f"{path}.{channel}",
                    "message": f"unknown personalisation field {{{unknown[0]}}}; known: "
                    + ", ".join(sorted(allowed)),
                }
            )
    return errors


def _schedule_errors(
    body: CampaignCreate, now: datetime, timezone: str
) -> tuple[list[dict[str, str]], datetime | None]:
    if body.kind != "scheduled":
        if body.scheduled_at is not None:
            return [{"field": "scheduled_at", "message": "only a scheduled campaign has scheduled_at"}], None
        return [], None
    if body.scheduled_at is None:
        return [{"field": "scheduled_at", "message": "a scheduled campaign needs scheduled_at"}], None
    at = body.scheduled_at
    if at.tzinfo is None:  # mall time at the edges
        at = at.replace(tzinfo=clock.zone(timezone))
    at_utc = at.astimezone(clock.zone("UTC"))
    if at_utc < now + MIN_SCHEDULE_LEAD:
        return [{"field": "scheduled_at", "message": "must be at least a minute in the future"}], None
    return [], at_utc


@dataclass(frozen=True)
class _Checked:
    segment: Segment | None
    scheduled_at: datetime | None
    offer_valid_days: int | None


def _check(  # noqa: PLR0912 - the checks are the point
    body: CampaignCreate,
    *,
    segments: SegmentRepository,
    offers: OfferCatalogue,
    now: datetime,
    timezone: str,
) -> _Checked:
    """Every check of a campaign definition (creation and draft edits); a 422 names every field."""
    errors: list[dict[str, str]] = []
    if len(set(body.channels)) != len(body.channels):
        errors.append({"field": "channels", "message": "channels must not repeat"})
    trigger_fields: frozenset[str] = frozenset()
    if body.kind == "triggered":
        if body.trigger is None:
            errors.append({"field": "trigger", "message": "a triggered campaign needs a trigger"})
        else:
            trigger_fields = TRIGGER_FIELDS[body.trigger.event]
            if body.trigger.tiers is not None and body.trigger.event != "tier_changed":
                errors.append({"field": "trigger.tiers", "message": "only for tier_changed"})
    elif body.trigger is not None:
        errors.append({"field": "trigger", "message": "only a triggered campaign has a trigger"})
    if body.kind != "triggered" and body.segment_id is None:
        errors.append({"field": "segment_id", "message": "a one-off or scheduled campaign needs a segment"})
    segment = segments.get(body.segment_id) if body.segment_id else None
    if body.segment_id and segment is None:
        errors.append({"field": "segment_id", "message": "no segment has this id"})
    schedule_errors, scheduled_at = _schedule_errors(body, now, timezone)
    errors += schedule_errors
    names = [v.name for v in body.variants]
    if len(set(names)) != len(names):
        errors.append({"field": "variants", "message": "variant names must be unique"})
    if len(body.variants) == 1:
        errors.append({"field": "variants", "message": "an A/B test needs at least two variants"})
    offers_used = [("offer", body.offer)] + [
        (f"variants.{i}.offer", v.offer) for i, v in enumerate(body.variants) if v.offer is not None
    ]

    def allowed_for(offer: object) -> frozenset[str]:
        extra = OFFER_FIELDS[offer.type] if offer is not None else frozenset()  # type: ignore[attr-defined]
        return COMMON_FIELDS | trigger_fields | extra

    errors += _content_errors(body.content, body.channels, allowed_for(body.offer), "content")
    for i, variant in enumerate(body.variants):
        errors += _content_errors(
            variant.content, body.channels, allowed_for(variant.offer or body.offer), f"variants.{i}.content"
        )
    valid_days: int | None = None
    if not errors:  # ask loyalty only about an otherwise valid campaign
        for path, offer in offers_used:
            if offer is None or offer.type != "coupon":
                continue
            info = offers.describe_template(offer.template_id)
            if not info.exists:
                errors.append({"field": f"{path}.template_id", "message": "unknown coupon template"})
            elif info.status not in (None, "active"):
                errors.append(
                    {"field": f"{path}.template_id", "message": f"coupon template is {info.status}"}
                )
            elif path == "offer":
                valid_days = info.valid_days
    if errors:
        raise InvalidCampaign(fields=errors)
    return _Checked(segment, scheduled_at, valid_days)


def _schedule(scheduler: LaunchScheduler, campaign_id: str, at: datetime | None, timezone: str) -> str | None:
    if at is None:
        return None
    local = at.astimezone(clock.zone(timezone)).replace(tzinfo=None)
    return scheduler.schedule_launch(campaign_id, local, timezone)


def _definition(body: CampaignCreate, checked: _Checked, **lifecycle: Any) -> Campaign:
    return Campaign(
        name=body.name,
        kind=body.kind,
        status="scheduled" if checked.scheduled_at is not None else "draft",
        segment_id=body.segment_id,
        segment_rule=checked.segment.rule if checked.segment is not None else None,
        trigger=body.trigger,
        scheduled_at=checked.scheduled_at,
        channels=body.channels,
        content=body.content,
        offer=body.offer,
        priority=body.priority,
        variants=body.variants,
        holdout_percent=body.holdout_percent,
        attribution_days=body.attribution_days,
        offer_valid_days=checked.offer_valid_days,
        **lifecycle,
    )


def create_campaign(
    body: CampaignCreate,
    *,
    segments: SegmentRepository,
    offers: OfferCatalogue,
    campaigns: CampaignRepository,
    scheduler: LaunchScheduler,
    created_by: str,
    now: datetime,
    timezone: str,
) -> Campaign:
    """Check everything, then store (and schedule). A 422 names every field at fault."""
    checked = _check(body, segments=segments, offers=offers, now=now, timezone=timezone)
    campaign_id = new_ulid(now)
    campaign = _definition(
        body,
        checked,
        campaign_id=campaign_id,
        created_at=now,
        created_by=created_by,
        schedule_name=_schedule(scheduler, campaign_id, checked.scheduled_at, timezone),
    )
    campaigns.create(campaign)
    return campaign


def edit_draft(
    campaign_id: str,
    patch: CampaignPatch,
    *,
    segments: SegmentRepository,
    offers: OfferCatalogue,
    campaigns: CampaignRepository,
    scheduler: LaunchScheduler,
    edited_by: str,
    now: datetime,
    timezone: str,
) -> Campaign:
    """``PATCH``: only a draft; the fields given replace the stored ones and the result is checked
    like a new campaign (422 naming each field; nothing written). A draft given a schedule
    becomes ``scheduled`` (its schedule is created before the write: should the write lose to a
    concurrent launch or edit, the stale schedule's job finds the campaign not ``scheduled`` and
    does nothing). Concurrent edits: the second to write gets 409 ``campaign_changed``."""
    current = get_campaign(campaign_id, campaigns)
    if current.status != "draft":
        raise CampaignNotEditable()
    merged = current.create_fields() | patch.model_dump(mode="json", exclude_unset=True)
    try:
        body = CampaignCreate.model_validate(merged)
    except ValidationError as invalid:
        raise InvalidCampaign(
            fields=[
                {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                for e in invalid.errors()
            ]
        ) from None
    checked = _check(body, segments=segments, offers=offers, now=now, timezone=timezone)
    edited = _definition(
        body,
        checked,
        campaign_id=campaign_id,
        created_at=current.created_at,
        created_by=current.created_by,
        updated_at=now,
        updated_by=edited_by,
        revision=current.revision + 1,
        schedule_name=_schedule(scheduler, campaign_id, checked.scheduled_at, timezone),
    )
    campaigns.replace_draft(edited, expected_revision=current.revision)
    return edited


def get_campaign(campaign_id: str, repo: CampaignRepository) -> Campaign:
    campaign = repo.get(campaign_id)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


def request_launch(
    campaign_id: str,
    repo: CampaignRepository,
    queue: LaunchQueue,
    now: datetime,
    launched_event: CampaignLaunched,
) -> Campaign:
    """``POST .../launch``: a triggered campaign becomes active at once; a one-off (or a scheduled
    one launched early) moves to ``launching`` and its launch job is queued (202)."""
    campaign = get_campaign(campaign_id, repo)
    if campaign.kind == "triggered":
        if campaign.status != "draft":
            raise CampaignNotLaunchable()
        return repo.activate(campaign, now, launched_event)
    if campaign.status not in {"draft", "scheduled"}:
        raise CampaignNotLaunchable()
    launching = repo.start_launch(campaign_id, now)
    queue.request_launch(campaign_id)
    return launching


CANCELLABLE: frozenset[str] = frozenset({"draft", "scheduled", "launching", "launched", "active"})


def cancel_campaign(
    campaign_id: str,
    repo: CampaignRepository,
    scheduler: LaunchScheduler,
    *,
    cancelled_by: str,
    now: datetime,
    attempts: int = 3,
) -> Campaign:
    """``POST .../cancel``, whatever the campaign's state (idempotent: cancelling again repeats the
    clean-up and answers the cancelled campaign).

    One transaction (dal/planning.py) sets ``cancelled``, writes the marker dispatch reads
    (``CAMPAIGN#<id>`` / ``CANCELLED``) and takes a triggered campaign out of the trigger index;
    its condition is the status just read, so a state that moved meanwhile (a schedule firing)
    is read again. Then a scheduled campaign's pending schedule is deleted — after the write, so
    a schedule that fires in between finds the campaign not ``scheduled`` and does nothing. A
    launch in progress stops at its next page (logic/launch.py); sends already queued or
    deferred are suppressed by dispatch with ``campaign_cancelled``.
    """
    for _ in range(attempts):
        campaign = get_campaign(campaign_id, repo)
        if campaign.status == "cancelled":
            break
        if campaign.status not in CANCELLABLE:  # pragma: no cover - every other status is
            raise CampaignNotCancellable()
        try:
            campaign = repo.cancel(campaign, cancelled_by=cancelled_by, now=now)
            break
        except CampaignChanged:
            continue
    else:
        raise CampaignChanged()
    if campaign.schedule_name:
        scheduler.delete_launch_schedule(campaign.schedule_name)
    return campaign
