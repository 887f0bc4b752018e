"""The loyalty functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class LoyaltySettings(ServiceSettings):
    """``TABLE_NAME`` is required for every loyalty function."""

    table_name: str


class LoyaltyApiSettings(LoyaltySettings):
    """The API also needs the integration keys (a JSON map source -> HMAC key in Secrets Manager)
    and loyalty's pseudonym key (to check a purchase's member against the erasure tombstones)."""

    integration_keys_secret_arn: str
    pseudonym_key_secret_arn: str
    signature_max_skew_seconds: int = 300
    integration_keys_cache_seconds: int = 60


class LoyaltyPrivacySettings(LoyaltySettings):
    """The MemberErased consumer: loyalty's pseudonym key (Secrets Manager)."""

    pseudonym_key_secret_arn: str
