"""The campaigns functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class CampaignsSettings(ServiceSettings):
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
