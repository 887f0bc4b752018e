"""The loyalty functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from shared.settings import ServiceSettings


class LoyaltySettings(ServiceSettings):
    """``TABLE_NAME`` is required for every loyalty function."""

    model_config = ConfigDict(defer_build=True)

    table_name: str


class PointsSettings(LoyaltySettings):
    """The points ledger's policy (L1): lot expiry, reminders, configuration cache."""

    points_expiry_policy: Literal["end_of_following_year", "days"] = "end_of_following_year"
    points_expiry_days: int = 365
    points_expiring_notice_days: int = 30
    loyalty_config_cache_seconds: int = 60


class LedgerJobSettings(PointsSettings):
    """Scheduled ledger jobs (release, expiry, tier review): they publish with member ids, which
    the balance item holds; no pseudonym key needed."""


class LoyaltyApiSettings(PointsSettings):
    """The API also needs the integration keys (a JSON map source -> HMAC key in Secrets Manager)
    and loyalty's pseudonym key (to check a purchase's member against the erasure tombstones)."""

    integration_keys_secret_arn: str
    pseudonym_key_secret_arn: str
    signature_max_skew_seconds: int = 300
    integration_keys_cache_seconds: int = 60


class LoyaltyPrivacySettings(LoyaltySettings):
    """The MemberErased consumer: loyalty's pseudonym key (Secrets Manager) and the members'
    export bucket (to delete loyalty's export parts an erasure overtook)."""

    pseudonym_key_secret_arn: str
    member_exports_bucket: str | None = None


class LoyaltyExportSettings(LoyaltySettings):
    """The MemberExportRequested consumer: the pseudonym key (the member's ledger id, the erasure
    tombstone) and the members' export bucket, where loyalty writes its part."""

    pseudonym_key_secret_arn: str
    member_exports_bucket: str | None = None
