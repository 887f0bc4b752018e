"""The campaigns functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from shared.settings import ServiceSettings

# A subscription-message template keyword holding free text: kind "thing" and its position.
_THING_KEYWORD = re.compile(r"thing[0-9]{1,2}")


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
    # WeChat subscription messages (CHANNEL_MODE=aws): no template id, no WeChat channel. The app id
    # and secret (members' WeChatAppSecret, the same mini-program) give the access token.
    wechat_template_id: str | None = None
    wechat_app_secret_arn: str | None = None
    # The template's two thing keywords that carry the title and the body ("thing1,thing2").
    wechat_template_keywords: tuple[str, str] = ("thing1", "thing2")
    secret_cache_seconds: int = Field(default=300, ge=0, le=3600)
    cap_per_day: int = Field(default=1, ge=1, le=50)
    cap_per_week: int = Field(default=3, ge=1, le=200)
    decision_window_seconds: int = Field(default=60, ge=0, le=3600)
    quiet_start_hour: int = Field(default=21, ge=0, le=23)
    quiet_end_hour: int = Field(default=9, ge=0, le=23)
    # 3,000/s: what one campaign's sharded rate counter and a batched dispatch sustain; a campaign
    # whose provider takes less carries its own rate_per_minute (docs/decisions.md, 2026-11-23).
    campaign_rate_per_minute: int = Field(default=180_000, ge=1)
    max_send_attempts: int = Field(default=4, ge=1, le=10)
    # Requests for members erased since they were queued are dropped by pseudonym
    # (logic/recent_erasures.split_erased); read only while someone was erased in the last 8 days.
    pseudonym_key_secret_arn: str | None = None

    @field_validator("wechat_template_keywords", mode="before")
    @classmethod
    def _two_thing_keywords(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(","))
        if (
            not isinstance(value, tuple | list)
            or len(value) != 2  # title and body
            or len(set(value)) != 2
            or not all(isinstance(v, str) and _THING_KEYWORD.fullmatch(v) for v in value)
        ):
            raise ValueError("two different thing keywords, e.g. thing1,thing2")
        return tuple(value)


class DeliveryProducerSettings(CampaignsSettings):
    """Functions that queue SendRequests (journeys, notifications, birthdays, points reminders)."""

    dispatch_queue_url: str
    birthday_coupon_template_id: str | None = None
    win_back_coupon_template_id: str | None = None
    recent_contact_days: int = Field(default=7, ge=0, le=365)
