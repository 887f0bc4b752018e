"""The coupon expiry index's sharding (pure, stdlib only): the daily expiry job
(logic/coupons.py) reads exactly these shards and every coupon write (dal/keys.py) places its
entry with them. Kept apart from logic/coupons.py so that building a coupon's key does not load
the whole coupon logic and its event models (issue 2's cold imports)."""

from __future__ import annotations

import hashlib

EXPIRY_INDEX_SHARDS = 4
"""Expiry-index partitions per day (fixed: the daily job reads exactly these)."""


def expiry_shard(coupon_id: str) -> int:
    return hashlib.sha256(coupon_id.encode()).digest()[0] % EXPIRY_INDEX_SHARDS
