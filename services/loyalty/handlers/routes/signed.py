"""The signed integration routes' common first step: verify the request's HMAC signature.

Purchases, refunds and parking sessions are signed the same way (shared.auth); the key of each
source comes from ``IntegrationKeysSecret``, cached per container.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from shared.auth import verify_signed_request

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.auth import SignedRequest


class SigningSettings(Protocol):
    @property
    def integration_keys_secret_arn(self) -> str: ...

    @property
    def integration_keys_cache_seconds(self) -> int: ...

    @property
    def signature_max_skew_seconds(self) -> int: ...


def verify_integration_post(
    headers: Mapping[str, str], path: str, raw: bytes, settings: SigningSettings, now: datetime
) -> SignedRequest:
    """The signing source and nonce of a signed ``POST path``; 401 (``signature_*``) otherwise."""
    from services.loyalty.dal.integration_keys import integration_keys  # noqa: PLC0415 - cold start

    return verify_signed_request(
        headers,
        "POST",
        path,
        raw,
        key_lookup=lambda source: integration_keys(
            settings.integration_keys_secret_arn, settings.integration_keys_cache_seconds
        ).get(source),
        now=now,
        max_skew_seconds=settings.signature_max_skew_seconds,
    )
