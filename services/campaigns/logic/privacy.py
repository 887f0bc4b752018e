"""Campaigns and members' privacy events: the consent projection and erasure.

**Consent projection** (``MemberConsentChanged``): campaigns keeps, per member and consent, the
newest decision (``MEMBER#<id>`` / ``CONSENT#<purpose>[#<channel>]``). Events may arrive out of
order or twice: the stored decision is replaced only by a strictly newer ``changed_at`` (ties
broken by event id), so a redelivery or a late, older event changes nothing. Absent = not granted
(PIPL opt-in): a member campaigns never heard about may not be contacted.

**Erasure** (``MemberErased``): campaigns keeps nothing that points at the member. Its projections
(last purchase, consents) and journey locks are deleted; its journey episodes keep their outcome
for reporting but the member id is replaced by a pseudonym (HMAC-SHA256 of the member id under
campaigns' own key, ``CampaignsPseudonymKeySecret``): not reversible without the key, and not
linkable to loyalty's pseudonym (another key). A tombstone ``ERASED#<pseudonym>`` makes late
consent or purchase events for the member no-ops.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover - typing only: the event module loads when a consumer parses one
    from shared.events.contracts import MemberConsentChanged

PSEUDONYM_PREFIX = "anon_"


def pseudonym(key: bytes, member_id: str) -> str:
    """``anon_<32 hex>``: HMAC-SHA256(key, member id), truncated to 128 bits."""
    return PSEUDONYM_PREFIX + hmac.new(key, member_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class ConsentFact:
    member_id: str
    purpose: str
    channel: str | None
    granted: bool
    changed_at: datetime
    text_version: str
    event_id: str


class ProjectOutcome(Enum):
    STORED = "stored"
    STALE = "stale"  # an equal or newer decision is stored already (redelivery or out of order)
    ERASED = "erased"  # the member was erased: nothing is kept


class ConsentProjectionRepository(Protocol):
    def store_if_newer(self, fact: ConsentFact, erased_marker: str) -> ProjectOutcome:
        """Store ``fact`` unless an equal or newer one is stored or ``erased_marker`` exists."""

    def marketing_channels(self, member_id: str) -> list[str]:
        """The marketing channels the member has currently granted."""


def fact_from_event(event_id: str, event: MemberConsentChanged) -> ConsentFact:
    return ConsentFact(
        member_id=event.member_id,
        purpose=event.purpose,
        channel=event.channel,
        granted=event.granted,
        changed_at=event.changed_at,
        text_version=event.text_version,
        event_id=event_id,
    )


def project_consent(
    event_id: str, event: MemberConsentChanged, repo: ConsentProjectionRepository, key: bytes
) -> ProjectOutcome:
    return repo.store_if_newer(fact_from_event(event_id, event), pseudonym(key, event.member_id))


@dataclass(frozen=True)
class ConsentCheck:
    allowed: bool
    channels: list[str]


def check_marketing_consent(member_id: str, repo: ConsentProjectionRepository) -> ConsentCheck:
    """May campaigns contact the member for marketing? Only with a granted marketing channel."""
    channels = repo.marketing_channels(member_id)
    return ConsentCheck(allowed=bool(channels), channels=channels)


# --- erasure -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureResult:
    projections_deleted: int
    episodes_pseudonymised: int
    already_done: bool = False


class ErasureRepository(Protocol):
    def erase_member(
        self, member_id: str, pseudonym: str, *, event_id: str, erased_at: datetime
    ) -> ErasureResult:
        """Write the tombstone, pseudonymise the member's episodes, delete projections and locks;
        idempotent on ``event_id``."""


def erase_member(
    event_id: str, member_id: str, erased_at: datetime, repo: ErasureRepository, key: bytes
) -> ErasureResult:
    return repo.erase_member(member_id, pseudonym(key, member_id), event_id=event_id, erased_at=erased_at)
