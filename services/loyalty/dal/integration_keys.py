"""The integrating systems' HMAC keys, from Secrets Manager, cached per container for a short time.

The secret is a JSON map ``{"<source>": "<key>", ...}``. Cached for ``max_age_seconds`` (a minute by
default): one Secrets Manager call per container per minute at most, and a key added or rotated by
an operator is picked up within that minute.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping

from shared.aws import client

_lock = threading.Lock()
_cache: dict[str, tuple[float, Mapping[str, bytes]]] = {}


def _fetch(secret_id: str) -> Mapping[str, bytes]:
    response = client("secretsmanager").get_secret_value(SecretId=secret_id)
    parsed = json.loads(response["SecretString"])
    if not isinstance(parsed, dict):
        raise ValueError("the integration keys secret must be a JSON object of source -> key")
    return {str(source): str(key).encode("utf-8") for source, key in parsed.items() if key}


def integration_keys(secret_id: str, max_age_seconds: float) -> Mapping[str, bytes]:
    """Every source's key, from the cache when it is younger than ``max_age_seconds``."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(secret_id)
        if hit is not None and now - hit[0] < max_age_seconds:
            return hit[1]
    keys = _fetch(secret_id)
    with _lock:
        _cache[secret_id] = (now, keys)
    return keys


def clear_cache() -> None:
    """Forget cached keys (tests; an operator-triggered refresh)."""
    with _lock:
        _cache.clear()
