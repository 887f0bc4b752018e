"""Triggered campaigns: an event about one member → each active campaign for that trigger.

* MemberRegistered → ``member_registered`` (welcome), once per member;
* TierChanged, upgrades only → ``tier_changed`` (congratulations; optional ``tiers`` filter), once
  per member and new tier; fields ``new_tier``, ``previous_tier`` — the tiers' display names the
  event carries (``new_tier_label``, ``previous_tier_label``; the ids only from an older producer),
  and ``tier`` is the new tier too (the projection may not have the change yet); a member with no
  previous tier has no ``previous_tier`` (dispatch suppresses a message that needs it);
* PointsExpiring → ``points_expiring`` (reminder), once per lot (or expiry time); fields
  ``expiring_points``, ``expires_on``, ``days_left``;
* CouponExpiring → ``coupon_expiring`` (reminder), once per coupon; fields ``coupon_valid_until``,
  ``days_left``, ``template_id``.

For each campaign (found by the trigger index — a Query, not a scan): the campaign's segment, if
any, must match the member's row (consent is left to dispatch at send time: see _skip_reason);
then the global control group, else the member's arrival slot: the member's arrivals shard (a
stable hash of the member id) counts it, and the n-th arrival of that shard takes slot n of the
shard's own blocked dealing (variants, holdout; logic/experiments.py). The assignment is written
once (condition on its key), and treated members get a SendRequest whose ``send_id`` carries the
"once per" key, so a redelivered event neither counts twice nor sends twice (dispatch dedupes on
``send_id``): it keeps the first arm whatever slot it drew (a redelivery still takes a slot of its
shard, which then goes to nobody, as before the counter was sharded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.campaigns.logic.experiments import (
    CONTROL,
    HOLDOUT,
    arm_plan,
    arrival_arm,
    arrival_shard,
    in_global_control,
)
from services.campaigns.logic.launch import Dispatch, Target, personalisation, send_request
from services.campaigns.logic.segments import matches, parse_rule
from services.campaigns.models.audience import MemberAttributes
from services.campaigns.models.campaigns import Campaign, TriggerEvent
from shared import clock
from shared.events.contracts import CouponExpiring, MemberRegistered, PointsExpiring, TierChanged

TriggerFact = MemberRegistered | TierChanged | PointsExpiring | CouponExpiring


@dataclass(frozen=True)
class Occasion:
    """What a trigger event means for campaigns."""

    event: TriggerEvent
    member_id: str
    key: str | None
    values: dict[str, str]
    not_after: datetime | None
    new_tier: str | None = None
    direction: str | None = None


def occasion_for(fact: TriggerFact, timezone: str) -> Occasion:
    def local_day(at: datetime) -> str:
        return at.astimezone(clock.zone(timezone)).date().isoformat()

    if isinstance(fact, MemberRegistered):
        return Occasion("member_registered", fact.member_id, None, {}, None)
    if isinstance(fact, TierChanged):
        new_name = fact.new_tier_label or fact.new_tier
        values = {"new_tier": new_name, "tier": new_name} | (
            {"previous_tier": fact.previous_tier_label or fact.previous_tier} if fact.previous_tier else {}
        )
        return Occasion(
            "tier_changed",
            fact.member_id,
            f"tier-{fact.new_tier}",
            values,
            None,
            fact.new_tier,
            fact.direction,
        )
    if isinstance(fact, PointsExpiring):
        lot = getattr(fact, "lot_id", None)
        key = f"lot-{lot}" if lot else f"exp-{clock.to_utc_iso(fact.expires_at)}"
        values = {
            "expiring_points": str(fact.points),
            "expires_on": local_day(fact.expires_at),
            "days_left": str(fact.days_left),
        }
        return Occasion("points_expiring", fact.member_id, key, values, fact.expires_at)
    values = {
        "coupon_valid_until": local_day(fact.valid_until),
        "days_left": str(fact.days_left),
        "template_id": fact.template_id,
    }
    return Occasion("coupon_expiring", fact.member_id, f"coupon-{fact.coupon_id}", values, fact.valid_until)


class TriggerRepository(Protocol):
    def active_for_trigger(self, event: str) -> list[Campaign]: ...

    def member(self, member_id: str) -> MemberAttributes | None: ...

    def next_arrival(self, campaign_id: str, shard: int) -> int:
        """0, 1, 2 … per campaign and arrivals shard (an atomic counter per shard)."""

    def assign_once(self, campaign: Campaign, member_id: str, key: str | None, arm: str, at: datetime) -> str:
        """Write the assignment unless it exists (then count nothing); the member's arm either way."""


@dataclass(frozen=True)
class TriggerOutcome:
    campaign_id: str
    arm: str | None
    reason: (
        str  # queued | control | holdout | not_in_segment | no_consent | not_an_upgrade | tier_not_targeted
    )


def _skip_reason(
    campaign: Campaign, occasion: Occasion, row: MemberAttributes | None, now: datetime
) -> str | None:
    trigger = campaign.trigger
    if occasion.event == "tier_changed":
        if occasion.direction != "up":
            return "not_an_upgrade"
        if trigger is not None and trigger.tiers is not None and occasion.new_tier not in trigger.tiers:
            return "tier_not_targeted"
    member = row or MemberAttributes(member_id=occasion.member_id)
    if campaign.segment_rule is not None and not matches(parse_rule(campaign.segment_rule), member, now):
        return "not_in_segment"
    # No consent filter here, unlike a launch: a MemberRegistered and the consents given with it
    # travel as separate events to separate consumers, so the projection may not have them yet.
    # Dispatch checks the consent when it sends (later, with the projection up to date) and counts
    # a refusal as suppressed_no_consent in the report.
    return None


def on_trigger(
    fact: TriggerFact,
    *,
    repo: TriggerRepository,
    dispatch: Dispatch,
    now: datetime,
    timezone: str,
    control_salt: str,
    control_basis_points: int,
    deferral: timedelta,
) -> list[TriggerOutcome]:
    occasion = occasion_for(fact, timezone)
    campaigns = repo.active_for_trigger(occasion.event)
    if not campaigns:
        return []
    row = repo.member(occasion.member_id)
    outcomes: list[TriggerOutcome] = []
    requests = []
    for campaign in sorted(campaigns, key=lambda c: (-c.priority, c.campaign_id)):
        reason = _skip_reason(campaign, occasion, row, now)
        if reason is not None:
            outcomes.append(TriggerOutcome(campaign.campaign_id, None, reason))
            continue
        if in_global_control(occasion.member_id, control_salt, control_basis_points):
            arm = CONTROL
        else:
            plan = arm_plan(campaign.variant_names(), campaign.holdout_percent)
            shard = arrival_shard(occasion.member_id)
            position = repo.next_arrival(campaign.campaign_id, shard)
            arm = arrival_arm(plan, campaign.campaign_id, shard, position)
        arm = repo.assign_once(campaign, occasion.member_id, occasion.key, arm, now)
        if arm in {CONTROL, HOLDOUT}:
            outcomes.append(TriggerOutcome(campaign.campaign_id, arm, arm))
            continue
        limit = now + deferral
        not_after = min(limit, occasion.not_after) if occasion.not_after else limit
        target = Target(
            occasion.member_id,
            row.tier if row else None,
            row.points_balance if row else None,
            row.tier_name if row else None,
        )
        requests.append(
            send_request(
                campaign,
                occasion.member_id,
                arm,
                {**personalisation(target), **occasion.values},
                now,
                not_after,
                send_key=occasion.key,
            )
        )
        outcomes.append(TriggerOutcome(campaign.campaign_id, arm, "queued"))
    dispatch.enqueue(requests)
    return outcomes
