"""Secrets Manager values, cached per container for a short time.

Every service reads keys this way (integration keys, token and lookup keys, pseudonym keys): one
GetSecretValue per secret per container every few minutes, so a rotated value is picked up without a
deploy and a busy function does not pay Secrets Manager on every call."""

from __future__ import annotations

import threading
import time

from shared.aws import client

_lock = threading.Lock()
_cache: dict[str, tuple[float, str]] = {}


def secret_string(secret_id: str, max_age_seconds: float) -> str:
    """The secret's current string, from the cache when younger than ``max_age_seconds``."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(secret_id)
        if hit is not None and now - hit[0] < max_age_seconds:
            return hit[1]
    value = str(client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    if not value:
        raise ValueError("empty secret")
    with _lock:
        _cache[secret_id] = (now, value)
    return value


def secret_bytes(secret_id: str, max_age_seconds: float) -> bytes:
    return secret_string(secret_id, max_age_seconds).encode("utf-8")


def clear_cache() -> None:
    with _lock:
        _cache.clear()
