"""The member attributes segments are evaluated on (campaigns' own projection of member facts)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

AUDIENCE_SHARDS = 16
"""The projection is spread over this many GSI partitions (``gsi2pk = AUDIENCE#<nn>``): the
materialisation reads them in parallel, and a launch works shard by shard."""


def audience_shard(member_id: str) -> int:
    """A stable shard number in ``[0, AUDIENCE_SHARDS)`` (blake2b, not Python's salted ``hash``)."""
    digest = hashlib.blake2b(member_id.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % AUDIENCE_SHARDS


class MemberAttributes(BaseModel):
    """One member as segments see it. Every field may be unknown (None / empty): a member
    campaigns heard of only through a consent or a purchase still has a row."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    member_id: str
    registered_at: datetime | None = None
    rfm_segment: str | None = None
    lifecycle_stage: str | None = None
    churn_risk: str | None = None
    value_level: str | None = None
    tags: frozenset[str] = Field(default_factory=frozenset)
    tier: str | None = None
    tier_name: str | None = Field(
        default=None, description="The tier's display name from the latest TierChanged (for messages)."
    )
    points_balance: int | None = None
    last_purchase_at: datetime | None = None
    categories: frozenset[str] = Field(default_factory=frozenset)
    stores: frozenset[str] = Field(default_factory=frozenset)
    consents: frozenset[str] = Field(
        default_factory=frozenset,
        description="Granted consents: 'marketing:<channel>' or '<purpose>' (absent = not granted).",
    )
