"""The sparse audience index's keys (``gsi2``), apart from dal/audience.py so that the consent
projection (dal/privacy.py) can write them without importing the attribute projection's logic."""

from __future__ import annotations

from services.campaigns.models.audience import audience_shard

__all__ = ["AUDIENCE_INDEX", "audience_keys", "shard_key"]

AUDIENCE_INDEX = "gsi2"


def shard_key(shard: int) -> str:
    return f"AUDIENCE#{shard:02d}"


def audience_keys(member_id: str, kind: str) -> dict[str, str]:
    """The ``gsi2`` attributes of an item that belongs in the audience export."""
    return {"gsi2pk": shard_key(audience_shard(member_id)), "gsi2sk": f"{member_id}#{kind}"}
