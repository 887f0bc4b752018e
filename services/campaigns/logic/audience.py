"""The member-attribute projection: member facts (events) → one ``ATTRS`` row per member.

Each event type owns its fields and carries its own clock, so the projection is built from events
arriving in any order, twice, or late:

* ``MemberProfileScored`` → rfm segment, lifecycle, churn risk, value level, tags — replaced only by
  a strictly newer ``scored_at``;
* ``TierChanged`` → tier (and its display name, when the event carries it), newer ``changed_at``
  wins;
* every ledger movement that changes the available balance → points balance from
  ``balance_after``: ``PointsEarned`` (earn, pending, positive adjustment), ``PointsReleased``
  (return window over), ``PointsRedeemed`` (reward, parking offset), ``PointsExpired``,
  ``PointsAdjusted`` (adjustments and reversals) and ``PurchaseRefunded`` (the clawback, when it
  took points). The newest movement wins by the ledger's ``balance_version`` (strictly increasing
  per member: a movement posted after a retry, or from a Lambda whose clock is behind, still
  orders right); events without a version (producers before 2026-11-23) fall back to time, then
  movement id, and never overwrite a versioned balance;
* ``PurchaseRecorded`` → last purchase (only moves forward), categories and stores ever bought (sets:
  adding twice is adding once);
* ``MemberRegistered`` → registered at (first write wins).

Consents stay in the consent projection (logic/privacy.py); the materialisation reads both.
A member erased from campaigns has a tombstone: the repository refuses every write for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from services.campaigns.logic.privacy import pseudonym
from shared.events.contracts import (
    MemberProfileScored,
    MemberRegistered,
    PointsAdjusted,
    PointsEarned,
    PointsExpired,
    PointsRedeemed,
    PointsReleased,
    PurchaseRecorded,
    PurchaseRefunded,
    TierChanged,
)


@dataclass(frozen=True)
class ProfileFact:
    scored_at: datetime
    rfm_segment: str
    lifecycle_stage: str | None
    churn_risk: str
    value_level: str
    tags: frozenset[str]


@dataclass(frozen=True)
class TierFact:
    changed_at: datetime
    tier: str
    name: str | None = None


@dataclass(frozen=True)
class PointsFact:
    at: datetime
    movement_id: str
    balance: int
    version: int | None = None  # the ledger's balance version after the movement


@dataclass(frozen=True)
class PurchaseFact:
    occurred_at: datetime
    categories: frozenset[str]
    store_id: str


@dataclass(frozen=True)
class RegisteredFact:
    registered_at: datetime


@dataclass(frozen=True)
class AttributeUpdate:
    """One event's contribution to one member's row."""

    member_id: str
    profile: ProfileFact | None = None
    tier: TierFact | None = None
    points: PointsFact | None = None
    purchase: PurchaseFact | None = None
    registered: RegisteredFact | None = None
    erased_marker: str | None = field(default=None)


class AttributeRepository(Protocol):
    def apply(self, update: AttributeUpdate) -> bool:
        """Apply the update under its own clock; False when nothing changed (older, or erased)."""


PointsMovement = PointsEarned | PointsExpired | PointsRedeemed | PointsReleased | PointsAdjusted
Fact = (
    MemberProfileScored
    | TierChanged
    | PointsMovement
    | PurchaseRefunded
    | PurchaseRecorded
    | MemberRegistered
)


def _points_at(event: PointsMovement) -> datetime:
    if isinstance(event, PointsEarned):
        return event.earned_at
    if isinstance(event, PointsExpired):
        return event.expired_at
    if isinstance(event, PointsRedeemed):
        return event.redeemed_at
    if isinstance(event, PointsReleased):
        return event.released_at
    return event.adjusted_at


def points_fact(event: PointsMovement | PurchaseRefunded) -> PointsFact | None:
    """The balance a movement left (None: a refund that took no points)."""
    if isinstance(event, PurchaseRefunded):
        if event.movement_id is None or event.balance_after is None:
            return None
        at = event.recorded_at or event.occurred_at
        return PointsFact(at, event.movement_id, event.balance_after, event.balance_version)
    return PointsFact(_points_at(event), event.movement_id, event.balance_after, event.balance_version)


def update_from_event(event: Fact) -> AttributeUpdate | None:  # noqa: PLR0911 - one case per event
    """The row change an event implies (None: nothing to project, e.g. an anonymous purchase)."""
    if isinstance(event, MemberProfileScored):
        return AttributeUpdate(
            member_id=event.member_id,
            profile=ProfileFact(
                scored_at=event.scored_at,
                rfm_segment=event.rfm_segment,
                lifecycle_stage=event.lifecycle_stage,
                churn_risk=event.churn_risk,
                value_level=event.value_level,
                tags=frozenset(event.tags),
            ),
        )
    if isinstance(event, TierChanged):
        return AttributeUpdate(
            event.member_id, tier=TierFact(event.changed_at, event.new_tier, event.new_tier_label)
        )
    if isinstance(event, PurchaseRefunded):
        fact = points_fact(event)
        if event.member_id is None or fact is None:
            return None
        return AttributeUpdate(event.member_id, points=fact)
    if isinstance(event, PointsEarned | PointsExpired | PointsRedeemed | PointsReleased | PointsAdjusted):
        return AttributeUpdate(event.member_id, points=points_fact(event))
    if isinstance(event, PurchaseRecorded):
        if event.member_id is None:
            return None
        return AttributeUpdate(
            event.member_id,
            purchase=PurchaseFact(
                occurred_at=event.occurred_at,
                categories=frozenset(item.category for item in event.items),
                store_id=event.store_id,
            ),
        )
    return AttributeUpdate(event.member_id, registered=RegisteredFact(event.registered_at))


def project_fact(event: Fact, repo: AttributeRepository, pseudonym_key: bytes | None = None) -> bool:
    """Apply ``event`` to the member's row; True when the row changed.

    With ``pseudonym_key`` the write is refused for an erased member (their tombstone exists), so a
    late event cannot bring an erased member back into an audience."""
    update = update_from_event(event)
    if update is None:
        return False
    if pseudonym_key is not None:
        update = AttributeUpdate(
            member_id=update.member_id,
            profile=update.profile,
            tier=update.tier,
            points=update.points,
            purchase=update.purchase,
            registered=update.registered,
            erased_marker=pseudonym(pseudonym_key, update.member_id),
        )
    return repo.apply(update)
