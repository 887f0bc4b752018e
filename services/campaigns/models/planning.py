"""Settings of the planning side of campaigns: segments, campaigns, launches, triggers, reports.

Read by ``shared.settings.load`` when a handler runs (each field ``foo`` from ``FOO``).
"""

from __future__ import annotations

from pydantic import Field

from services.campaigns.models.settings import CampaignsSettings


class AudienceSettings(CampaignsSettings):
    """The consumer of member facts (attribute projection, attribution)."""

    pseudonym_key_secret_arn: str | None = None
    attribution_days: int = Field(default=7, ge=1, le=90)


class SnapshotSettings(CampaignsSettings):
    """Whoever reads or writes audience snapshots (S3)."""

    snapshot_bucket: str
    mall_timezone: str = "Asia/Shanghai"


class PlanningApiSettings(SnapshotSettings):
    """The segments and campaigns routes of CampaignsApiFunction."""

    launch_queue_url: str
    loyalty_offers_function: str
    launch_schedule_role_arn: str
    launch_queue_arn: str
    schedule_group: str = "default"
    materialise_function: str | None = None
    point_value_cents: int = Field(default=1, ge=0, description="What one bonus point costs the mall.")


class LaunchSettings(SnapshotSettings):
    """The launch worker (one-off and scheduled campaigns)."""

    launch_queue_url: str
    dispatch_queue_url: str
    global_control_basis_points: int = Field(default=500, ge=0, le=5000)
    global_control_salt: str = "mallcrm-global-control-v1"
    snapshot_max_age_hours: int = Field(default=24, ge=1, le=24 * 7)
    deferral_hours: int = Field(default=72, ge=1, le=24 * 30)
    # Members erased since the snapshot are left out by pseudonym (logic/recent_erasures.py); read
    # only while someone was erased in the last 8 days, required then.
    pseudonym_key_secret_arn: str | None = None
    # The planning-time guardrails (logic/launch.py LaunchPace): the same quiet hours and rate as
    # dispatch enforces at send time (template parameters shared by both functions).
    quiet_start_hour: int = Field(default=21, ge=0, le=23)
    quiet_end_hour: int = Field(default=9, ge=0, le=23)
    campaign_rate_per_minute: int = Field(default=180_000, ge=1)
    # Continuations later than "now" are one-time schedules onto the launch queue.
    launch_queue_arn: str
    launch_schedule_role_arn: str
    schedule_group: str = "default"


class TriggerSettings(CampaignsSettings):
    """The consumer of trigger events (welcome, tier-up, expiring points or coupons)."""

    dispatch_queue_url: str
    global_control_basis_points: int = Field(default=500, ge=0, le=5000)
    global_control_salt: str = "mallcrm-global-control-v1"
    deferral_hours: int = Field(default=72, ge=1, le=24 * 30)
    mall_timezone: str = "Asia/Shanghai"
