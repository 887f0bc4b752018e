"""The campaign report's response models (built by logic/reports.py; the API route returns them).

Kept apart from the report logic so the API declares its response without importing the
statistics at cold start.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

_LAZY = ConfigDict(defer_build=True)


class Uplift(BaseModel):
    model_config = _LAZY

    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    significant: bool
    method: str = "newcombe_hybrid_score"


class GroupReport(BaseModel):
    model_config = _LAZY

    group: str
    kind: str  # variant | holdout | control
    assigned: int
    sent: int
    deferred: int
    delivered: int
    clicked: int
    failed: int
    # refused for good after it left us: the receiving mail server (SES receipt) or the SMS carrier
    # (SNS delivery status)
    bounced: int = 0
    complained: int = 0  # e-mail: the member marked it as spam (SES receipt)
    suppressed: dict[str, int]
    converted: int
    conversion_rate: float
    purchases: int
    sales_cents: int
    redemptions: int
    discount_cents: int
    offer_cost_cents: int
    uplift: Uplift | None = None
    incremental_sales_cents: int | None = None


class CampaignReport(BaseModel):
    model_config = _LAZY

    campaign_id: str
    status: str
    audience: int
    groups: list[GroupReport]
    baseline: GroupReport | None
    winner: str | None
    winner_reason: str
    attribution_days: int
