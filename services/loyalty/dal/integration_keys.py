"""The integrating systems' HMAC keys, from Secrets Manager, cached per container for a short time.

The secret is a JSON map ``{"<source>": "<key>", ...}``. Cached for ``max_age_seconds`` (a minute by
default): one Secrets Manager call per container per minute at most, and a key added or rotated by
an operator is picked up within that minute.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType

from shared.secrets import secret_string


def _parse(secret: str) -> Mapping[str, bytes]:
    parsed = json.loads(secret)
    if not isinstance(parsed, dict):
        raise ValueError("the integration keys secret must be a JSON object of source -> key")
    return {str(source): str(key).encode("utf-8") for source, key in parsed.items() if key}


_parsed: tuple[str, Mapping[str, bytes]] | None = None
"""The last secret string parsed and its keys: every signed request asks for the keys, and the
string only changes when the secret cache reloads a new version."""


def integration_keys(secret_id: str, max_age_seconds: float) -> Mapping[str, bytes]:
    """Every source's key; the secret is cached per container for ``max_age_seconds``."""
    global _parsed  # noqa: PLW0603 - a per-container memo of a pure function of the secret
    secret = secret_string(secret_id, max_age_seconds)
    memo = _parsed
    if memo is not None and memo[0] == secret:
        return memo[1]
    keys = MappingProxyType(_parse(secret))
    _parsed = (secret, keys)
    return keys
