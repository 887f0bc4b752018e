"""The campaigns functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from shared.settings import ServiceSettings


class CampaignsSettings(ServiceSettings):
    # Each function loads one of these classes: the others are not built at its cold start.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    table_name: str


class CampaignsPurchaseSettings(CampaignsSettings):
    """The purchase consumer: with the pseudonym key it drops purchases of erased members."""

    pseudonym_key_secret_arn: str | None = None


class ChurnWarningStarterSettings(CampaignsSettings):
    """The consumer that starts ChurnWarning episodes."""

    state_machine_arn: str
    churn_observe_seconds: int = Field(default=14 * 24 * 3600, ge=0, le=365 * 24 * 3600)


class CampaignsPrivacySettings(CampaignsSettings):
    """The consumer of members' privacy events: campaigns' pseudonym key (Secrets Manager)."""

    pseudonym_key_secret_arn: str
    member_exports_bucket: str | None = Field(
        default=None, description="Erasure deletes the export parts campaigns wrote for the member."
    )


class CampaignsExportSettings(CampaignsSettings):
    """The MemberExportRequested consumer: the members' export bucket and the pseudonym key (to
    see campaigns' erasure tombstone)."""

    pseudonym_key_secret_arn: str
    member_exports_bucket: str


class CampaignsReceiptSettings(CampaignsSettings):
    """The channel-receipt consumer (SES events): the pseudonym key, to leave an erased member's
    consent projection alone when a complaint arrives."""

    pseudonym_key_secret_arn: str


class DispatchSettings(CampaignsSettings):
    """CampaignsDispatchFunction (guardrails and channels) and the functions that wake deferrals."""

    dispatch_queue_url: str
    due_function_arn: str
    scheduler_role_arn: str
    due_dlq_arn: str | None = None
    schedule_group: str = "default"
    channel_mode: Literal["local", "aws"] = "local"
    loyalty_offers_function: str | None = None
    contact_directory_function: str | None = None
    sms_sender_id: str | None = None
    email_from: str | None = None
    # The receipts configuration set (template.yaml CampaignsEmailConfigurationSet): without it,
    # e-mail goes out but no delivery, bounce, complaint or click ever comes back.
    ses_configuration_set: str | None = None
    wechat_template_id: str | None = None
    cap_per_day: int = Field(default=1, ge=1, le=50)
    cap_per_week: int = Field(default=3, ge=1, le=200)
    decision_window_seconds: int = Field(default=60, ge=0, le=3600)
    quiet_start_hour: int = Field(default=21, ge=0, le=23)
    quiet_end_hour: int = Field(default=9, ge=0, le=23)
    # 3,000/s: what one campaign's sharded rate counter and a batched dispatch sustain; a campaign
    # whose provider takes less carries its own rate_per_minute (docs/decisions.md, 2026-11-23).
    campaign_rate_per_minute: int = Field(default=180_000, ge=1)
    max_send_attempts: int = Field(default=4, ge=1, le=10)


class DeliveryProducerSettings(CampaignsSettings):
    """Functions that queue SendRequests (journeys, notifications, birthdays, points reminders)."""

    dispatch_queue_url: str
    birthday_coupon_template_id: str | None = None
    win_back_coupon_template_id: str | None = None
    recent_contact_days: int = Field(default=7, ge=0, le=365)
