"""A campaign's report: counters per arm (dispatch's and attribution's) → rates, uplift, winner.

Groups: each variant (``-`` without an A/B test), the campaign's ``holdout`` and the members of
the global ``control`` group who were in the audience. The baseline for uplift is holdout and
control together — both were eligible and received nothing from this campaign.

* conversion rate = members who bought within the attribution window / members assigned;
* uplift = rate(variant) - rate(baseline), Newcombe hybrid score 95 % interval (logic/stats.py);
* incremental sales = (sales per member of the variant - of the baseline) x the variant's size;
* offer cost = coupon discounts redeemed + bonus points sent x the value of a point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.campaigns.logic.experiments import CONTROL, HOLDOUT, NO_VARIANT
from services.campaigns.logic.stats import Arm, declare_winner, newcombe_difference
from services.campaigns.models.campaigns import Campaign
from services.campaigns.models.reports import CampaignReport, GroupReport, Uplift

CONFIDENCE = 0.95
_DISPATCH = ("sent", "deferred", "delivered", "clicked", "failed")


def _n(counters: Mapping[str, Any], name: str) -> int:
    return int(counters.get(name, 0) or 0)


def _group(name: str, kind: str, c: Mapping[str, Any], points_cost: int) -> GroupReport:
    assigned = _n(c, "assigned")
    converted = _n(c, "converted")
    discount = _n(c, "discount_cents")
    return GroupReport(
        group=name,
        kind=kind,
        assigned=assigned,
        sent=_n(c, "sent"),
        deferred=_n(c, "deferred"),
        delivered=_n(c, "delivered"),
        clicked=_n(c, "clicked"),
        failed=_n(c, "failed"),
        bounced=_n(c, "bounced"),
        complained=_n(c, "complained"),
        suppressed={
            k.removeprefix("suppressed_"): _n(c, k) for k in sorted(c) if k.startswith("suppressed_")
        },
        converted=converted,
        conversion_rate=converted / assigned if assigned else 0.0,
        purchases=_n(c, "purchases"),
        sales_cents=_n(c, "sales_cents"),
        redemptions=_n(c, "redemptions"),
        discount_cents=discount,
        offer_cost_cents=discount + _n(c, "sent") * points_cost,
    )


def build_report(
    campaign: Campaign, stats: Mapping[str, Mapping[str, Any]], point_value_cents: int
) -> CampaignReport:
    """``stats``: arm → its counters (``STATS#<arm>`` items)."""

    def points_cost(arm: str) -> int:
        variant = campaign.variant(arm)
        offer = variant.offer if variant is not None and variant.offer is not None else campaign.offer
        return offer.points * point_value_cents if offer is not None and offer.type == "points" else 0

    arm_names = campaign.variant_names() or [NO_VARIANT]
    groups = [_group(a, "variant", stats.get(a, {}), points_cost(a)) for a in arm_names]
    controls = [_group(name, name, stats[name], 0) for name in (HOLDOUT, CONTROL) if name in stats]
    baseline: GroupReport | None = None
    if controls:
        merged: dict[str, int] = {}
        for name in (HOLDOUT, CONTROL):
            for key, value in stats.get(name, {}).items():
                if isinstance(value, int | float):
                    merged[key] = merged.get(key, 0) + int(value)
        baseline = _group("baseline", "baseline", merged, 0)
    for g in groups:
        if baseline is None or baseline.assigned == 0 or g.assigned == 0:
            continue
        diff = newcombe_difference(g.converted, g.assigned, baseline.converted, baseline.assigned, CONFIDENCE)
        if diff is not None:
            g.uplift = Uplift(
                difference=diff.estimate,
                ci_low=diff.interval.low,
                ci_high=diff.interval.high,
                confidence=CONFIDENCE,
                significant=diff.significant,
            )
        per_member = g.sales_cents / g.assigned - baseline.sales_cents / baseline.assigned
        g.incremental_sales_cents = round(per_member * g.assigned)
    winner = declare_winner(
        [Arm(g.group, g.converted, g.assigned) for g in groups] if campaign.variants else [], CONFIDENCE
    )
    return CampaignReport(
        campaign_id=campaign.campaign_id,
        status=campaign.status,
        audience=sum(g.assigned for g in groups) + sum(c.assigned for c in controls),
        groups=groups + controls,
        baseline=baseline,
        winner=winner.name,
        winner_reason=winner.reason,
        attribution_days=campaign.attribution_days,
    )
