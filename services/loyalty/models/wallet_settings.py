"""Settings of loyalty's wallet functions (offers, wallet routes, jobs), read when a handler runs."""

from __future__ import annotations

from typing import Literal

from services.loyalty.models.settings import LoyaltySettings, PointsSettings


class OffersSettings(PointsSettings):
    """LoyaltyOffersFunction and the wallet routes: loyalty's pseudonym key (ledger ids, erasure
    tombstones) and the ledger's expiry policy (points credited by the wallet expire like any)."""

    pseudonym_key_secret_arn: str
    coupon_budget_shards: int = 16


class CouponExpirySettings(LoyaltySettings):
    """The daily coupon job: remind ``coupon_expiring_days`` ahead."""

    coupon_expiring_days: int = 3


class ParkingSettings(OffersSettings):
    """Parking (signed sessions, member quotes and offsets). ``lookup_pepper_secret_arn`` is members'
    lookup pepper, read-only (the plate's keyed hash; docs/decisions.md). The tariff estimates a
    fee before exit (the car park's own fee is authoritative at exit)."""

    integration_keys_secret_arn: str
    lookup_pepper_secret_arn: str
    signature_max_skew_seconds: int = 300
    integration_keys_cache_seconds: int = 60
    secret_cache_seconds: int = 300
    parking_rate_cents_per_hour: int = 1000
    parking_daily_cap_cents: int = 6000
    parking_points_per_yuan: int = 10


class WeChatPaySettings(ParkingSettings):
    """WeChat Pay notifications. ``wechatpay_secret_arn``: JSON ``{"apiv3_key": "<32 chars>",
    "platform_keys": {"<serial or public key id>": "<PEM certificate or public key>"}}``.
    ``wechatpay_adapter``: ``auto`` (the local fake on the local targets, WeChat Pay elsewhere),
    ``wechatpay`` or ``fake`` (refused outside the local targets)."""

    wechatpay_secret_arn: str | None = None
    wechatpay_adapter: Literal["auto", "wechatpay", "fake"] = "auto"
