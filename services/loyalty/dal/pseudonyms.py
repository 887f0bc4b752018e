"""Loyalty's pseudonym key (Secrets Manager). Apart from dal/privacy.py (the erasure's ledger
writes) because consumers that only compute a pseudonym — the data export — must not load the
ledger repository to get the key (issue 2: cold imports)."""

from __future__ import annotations

from shared.secrets import secret_bytes


def pseudonym_key(secret_id: str, max_age_seconds: float = 300) -> bytes:
    """Loyalty' HMAC key for pseudonyms (Secrets Manager), cached per container for 5 minutes."""
    value = secret_bytes(secret_id, max_age_seconds)
    if len(value) < 32:
        raise ValueError("the pseudonym key must be at least 32 characters")
    return value
