"""Every MallCRM event, one pydantic model each: the single source of truth for their shape.

Conventions (docs/architecture.md, DESIGN §3):

* the class name is the EventBridge ``detail-type`` (PascalCase, past tense);
* ``SOURCE`` is one of the constants below (``mallcrm.<service>``), never typed by hand elsewhere;
* ``VERSION`` goes up only for a breaking change (a field removed, renamed or retyped); additive
  changes keep it, and ``tests/contract`` holds a schema snapshot per version that enforces this;
* producers are strict (``extra="forbid"``): a typo in a field name fails in the producer's tests;
  consumers are tolerant (:func:`consume` ignores unknown keys), so producers can add fields first;
* ids are strings, money is integer cents (fen), times are aware UTC datetimes;
* no personal data in events — ids only. Whoever needs a phone number asks members for it.

``EXAMPLE`` on each model is a valid ``data`` sample: it feeds the catalogue, the JSON Schemas and
the rule-pattern contract tests (:mod:`shared.events.samples`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import EventMetadata, UtcDateTime

__all__ = [
    "ALL_EVENTS",
    "CAMPAIGNS",
    "LOYALTY",
    "MEMBERS",
    "SOURCES",
    "TICKETS",
    "ChurnRiskEscalated",
    "ContractModel",
    "CouponIssued",
    "EventData",
    "MemberConsentChanged",
    "MemberErased",
    "MemberProfileScored",
    "MemberProfileUpdated",
    "MemberRegistered",
    "ParkingSessionSettled",
    "PointsEarned",
    "PointsExpired",
    "PointsExpiring",
    "PurchaseItem",
    "PurchaseRecorded",
    "PurchaseRefunded",
    "SurveyAnswered",
    "TicketOpened",
    "TicketResolved",
    "TierChanged",
    "UnknownEventType",
    "UnsupportedEventVersion",
    "consume",
    "model_for",
    "parse_data",
]

MEMBERS = "mallcrm.members"
LOYALTY = "mallcrm.loyalty"
CAMPAIGNS = "mallcrm.campaigns"
TICKETS = "mallcrm.tickets"
SOURCES: frozenset[str] = frozenset({MEMBERS, LOYALTY, CAMPAIGNS, TICKETS})

Id = Annotated[str, Field(min_length=1, max_length=128)]
Cents = Annotated[int, Field(ge=0, description="Integer cents (fen).")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")]
Level = Literal["low", "medium", "high"]
PurchaseChannel = Literal["pos", "online", "mini_program"]
ConsentPurpose = Literal[
    "marketing",
    "personalisation",
    "share_with_tenants",
    "share_with_parking_operator",
    "car_plates",
]
"""Consent purposes (members' consents API, MemberConsentChanged v2). v1 knew only marketing,
personalisation, tenant_sharing and car_plate and was never published."""
MessageChannel = Literal["sms", "email", "wechat", "inbox"]
TicketCategory = Literal["inquiry", "complaint", "after_sales", "points_dispute", "suggestion"]

_REGISTRY: dict[str, type[EventData]] = {}


class ContractModel(BaseModel):
    """Base of every model inside an event: strict for producers, immutable.

    ``defer_build``: validators are built on first use, so a function that handles one event
    does not pay at cold start for the schemas of all the others.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class EventData(ContractModel):
    """Base of every event's ``data``; subclasses set ``SOURCE``, ``VERSION`` and ``EXAMPLE``."""

    SOURCE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    EXAMPLE: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in _REGISTRY:
            raise TypeError(f"event {cls.__name__} is defined twice")
        if getattr(cls, "SOURCE", None) not in SOURCES:
            raise TypeError(f"event {cls.__name__} must set SOURCE to one of {sorted(SOURCES)}")
        _REGISTRY[cls.__name__] = cls

    @classmethod
    def detail_type(cls) -> str:
        """The EventBridge detail-type: the class name."""
        return cls.__name__

    def new_metadata(
        self, *, correlation_id: str, producer: str, occurred_at: datetime | None = None
    ) -> EventMetadata:
        """Fresh metadata for publishing this event (version from ``VERSION``)."""
        return EventMetadata.new(
            event_version=self.VERSION,
            correlation_id=correlation_id,
            producer=producer,
            occurred_at=occurred_at,
        )

    def detail_json(self, metadata: EventMetadata) -> str:
        """The EventBridge ``Detail`` string: ``{"metadata": {...}, "data": {...}}``."""
        return json.dumps(
            {"metadata": metadata.model_dump(mode="json"), "data": self.model_dump(mode="json")},
            separators=(",", ":"),
            ensure_ascii=False,
        )


# --- loyalty ---------------------------------------------------------------------------------


class PurchaseItem(ContractModel):
    sku: Id
    category: Id
    quantity: int = Field(ge=1)
    amount_cents: Cents


class PurchaseRecorded(EventData):
    """A purchase was recorded once (POS, online mall, mini-program or staff entry)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "purchase_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "external_id": "POS-2024-000123",
        "source_system": "pos-main",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "store_id": "store-0101",
        "tenant_id": "tenant-uniqlo",
        "amount_cents": 25900,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 25900}],
        "occurred_at": "2024-05-01T04:00:00.000000Z",
    }

    purchase_id: Id
    external_id: Id = Field(description="The id in the source system; unique per source_system.")
    source_system: Id
    member_id: Id | None = Field(description="Null for a purchase not (yet) tied to a member.")
    store_id: Id
    tenant_id: Id | None
    amount_cents: Cents
    currency: Currency = "CNY"
    channel: PurchaseChannel
    items: list[PurchaseItem] = Field(default_factory=list)
    occurred_at: UtcDateTime = Field(description="When the purchase happened at the till.")


class PurchaseRefunded(EventData):
    """A purchase was refunded, in full or in part."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "refund_id": "01HXB0C2D4E6F8G0H2J4K6M8N0",
        "external_id": "POS-REF-2024-000007",
        "source_system": "pos-main",
        "purchase_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "store_id": "store-0101",
        "amount_cents": 25900,
        "currency": "CNY",
        "full_refund": True,
        "occurred_at": "2024-05-03T06:30:00.000000Z",
    }

    refund_id: Id
    external_id: Id
    source_system: Id
    purchase_id: Id
    member_id: Id | None
    store_id: Id
    amount_cents: Cents = Field(description="Refunded amount.")
    currency: Currency = "CNY"
    full_refund: bool
    occurred_at: UtcDateTime


class PointsEarned(EventData):
    """Points were credited to a member (pending until the return window ends, where configured)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "movement_id": "01HXA3Z7AAAAAAAAAAAAAAAAAA",
        "points": 259,
        "reason": "purchase",
        "purchase_id": "01HXA3Z6P0Q8W5D9K2M4N7R1TB",
        "status": "pending",
        "available_at": "2024-05-08T04:00:00.000000Z",
        "expires_at": "2025-12-31T15:59:59.000000Z",
        "balance_after": 1259,
        "earned_at": "2024-05-01T04:00:01.000000Z",
    }

    member_id: Id
    movement_id: Id
    points: int = Field(gt=0)
    reason: Literal["purchase", "receipt_claim", "parking", "campaign", "birthday", "adjustment"]
    purchase_id: Id | None
    status: Literal["pending", "available"]
    available_at: UtcDateTime | None = Field(description="When pending points become usable.")
    expires_at: UtcDateTime | None
    balance_after: int = Field(description="Available balance after the movement (may be negative).")
    earned_at: UtcDateTime


class PointsExpiring(EventData):
    """Some of a member's points expire soon (daily job, N days ahead)."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "points": 300,
        "expires_at": "2024-06-30T15:59:59.000000Z",
        "days_left": 7,
        "noticed_at": "2024-06-23T01:00:00.000000Z",
    }

    member_id: Id
    points: int = Field(gt=0)
    expires_at: UtcDateTime
    days_left: int = Field(ge=0)
    noticed_at: UtcDateTime


class PointsExpired(EventData):
    """Points lots reached their expiry; the balance was reduced."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "movement_id": "01HZ0000000000000000000000",
        "points": 300,
        "balance_after": 959,
        "expired_at": "2024-06-30T16:00:00.000000Z",
    }

    member_id: Id
    movement_id: Id
    points: int = Field(gt=0)
    balance_after: int
    expired_at: UtcDateTime


class TierChanged(EventData):
    """A member moved to another tier."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "previous_tier": "silver",
        "new_tier": "gold",
        "direction": "up",
        "reason": "qualifying_spend",
        "changed_at": "2024-05-01T04:00:02.000000Z",
    }

    member_id: Id
    previous_tier: Id | None
    new_tier: Id
    direction: Literal["up", "down"]
    reason: Literal["qualifying_spend", "review", "manual", "refund"]
    changed_at: UtcDateTime


class CouponIssued(EventData):
    """A coupon landed in a member's wallet."""

    SOURCE = LOYALTY
    EXAMPLE = {
        "coupon_id": "01HY0000000000000000000000",
        "template_id": "birthday-2024",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "campaign_id": None,
        "reason": "birthday",
        "valid_from": "2024-05-01T01:00:00.000000Z",
        "valid_until": "2024-05-31T15:59:59.000000Z",
        "issued_at": "2024-05-01T01:00:00.000000Z",
    }

    coupon_id: Id
    template_id: Id
    member_id: Id
    campaign_id: Id | None
    reason: Literal["birthday", "campaign", "win_back", "reward", "manual", "tier_benefit"]
    valid_from: UtcDateTime
    valid_until: UtcDateTime
    issued_at: UtcDateTime


class ParkingSessionSettled(EventData):
    """A car left the car park and its session was settled (fee, benefits applied, paid).

    ``member_id`` is set when the plate (or the member code shown at the exit) belongs to a member
    who consented to plate recognition. ``vehicle_ref`` is a pseudonymous reference to the car (the
    keyed hash of the normalised plate, as members' plate lookup keys), never the plate itself.
    """

    SOURCE = LOYALTY
    EXAMPLE = {
        "session_id": "01HZ2222222222222222222222",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "vehicle_ref": "9f2c6a0e5b1d4f7a8c3e2b1a0d9f8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e",
        "entered_at": "2024-05-04T02:00:00.000000Z",
        "exited_at": "2024-05-04T05:10:00.000000Z",
        "fee_cents": 3000,
        "paid_cents": 1000,
        "free_minutes_applied": 120,
    }

    session_id: Id
    member_id: Id | None = Field(description="Null for a car not tied to a member.")
    vehicle_ref: Id = Field(description="HMAC-SHA256 hex of the normalised plate; never the plate itself.")
    entered_at: UtcDateTime
    exited_at: UtcDateTime
    fee_cents: Cents = Field(description="Fee before benefits.")
    paid_cents: Cents = Field(description="What the driver paid after free time and benefits.")
    free_minutes_applied: int = Field(ge=0)


# --- members ---------------------------------------------------------------------------------


class MemberRegistered(EventData):
    """A shopper became a member. Ids only: no phone, no name (PIPL)."""

    SOURCE = MEMBERS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "registered_at": "2024-04-01T02:00:00.000000Z",
        "channel": "mini_program",
    }

    member_id: Id
    registered_at: UtcDateTime
    channel: Literal["mini_program", "store", "online", "import"]


class MemberProfileUpdated(EventData):
    """A member's profile changed. The names of the changed fields only, never their values (PIPL)."""

    SOURCE = MEMBERS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "changed_fields": ["name", "preferred_categories"],
        "updated_at": "2024-04-02T02:00:00.000000Z",
        "updated_by": "member",
    }

    member_id: Id
    changed_fields: list[Id] = Field(min_length=1, description="Names of the changed fields, sorted.")
    updated_at: UtcDateTime
    updated_by: Literal["member", "staff"]


class MemberProfileScored(EventData):
    """Nightly scoring produced a member's segment and risk levels."""

    SOURCE = MEMBERS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "scored_at": "2024-05-02T18:00:00.000000Z",
        "rfm_segment": "at_risk",
        "recency_days": 75,
        "frequency_90d": 1,
        "monetary_90d_cents": 25900,
        "churn_risk": "high",
        "value_level": "high",
        "previous_churn_risk": "medium",
        "lifecycle_stage": "at_risk",
        "frequency_level": "low",
        "spend_level": "high",
        "tags": ["family"],
        "previous_rfm_segment": "important-keep",
        "previous_lifecycle_stage": "active",
        "changed": ["churn_risk", "lifecycle_stage", "rfm_segment"],
    }

    member_id: Id
    scored_at: UtcDateTime
    rfm_segment: Id
    recency_days: int | None = Field(ge=0, description="Days since the last purchase; null if none.")
    frequency_90d: int = Field(ge=0)
    monetary_90d_cents: Cents
    churn_risk: Level
    value_level: Level
    previous_churn_risk: Level | None
    lifecycle_stage: Literal["new", "active", "at_risk", "dormant", "lost"] | None = Field(
        default=None, description="Added 2026-11: the member's lifecycle stage (null from older producers)."
    )
    frequency_level: Level | None = Field(
        default=None, description="Purchase frequency against the population."
    )
    spend_level: Level | None = Field(default=None, description="Net spend against the population.")
    tags: list[Id] = Field(default_factory=list, description="Operator-defined tags that matched.")
    previous_rfm_segment: Id | None = None
    previous_lifecycle_stage: Literal["new", "active", "at_risk", "dormant", "lost"] | None = None
    changed: list[Literal["rfm_segment", "lifecycle_stage", "churn_risk", "tags"]] = Field(
        default_factory=list,
        description="What changed since the last published score (every field on a member's first score). "
        "Filter on it (e.g. changed: [churn_risk]) to react to one kind of change only.",
    )


class MemberErased(EventData):
    """A member's personal data was erased; every service pseudonymises what it holds."""

    SOURCE = MEMBERS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "erased_at": "2024-07-01T08:00:00.000000Z",
        "requested_by": "member",
    }

    member_id: Id
    erased_at: UtcDateTime
    requested_by: Literal["member", "staff"]


class MemberConsentChanged(EventData):
    """A member granted or withdrew a consent (per purpose; marketing also per channel).

    v2: the purposes of the consents API (``share_with_tenants``, ``share_with_parking_operator``,
    ``car_plates`` replace v1's ``tenant_sharing`` and ``car_plate``; v1 was never produced).
    Consumers keep the newest ``changed_at`` per (member, purpose, channel): events may arrive out
    of order. Absent = not granted (PIPL opt-in).
    """

    SOURCE = MEMBERS
    VERSION = 2
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "purpose": "marketing",
        "channel": "sms",
        "granted": True,
        "changed_at": "2024-04-01T02:00:00.000000Z",
        "text_version": "consent-2024-03",
    }

    member_id: Id
    purpose: ConsentPurpose
    channel: MessageChannel | None = Field(description="Set for marketing consents.")
    granted: bool
    changed_at: UtcDateTime
    text_version: Id = Field(description="Version of the consent text the member saw.")


# --- campaigns -------------------------------------------------------------------------------


class ChurnRiskEscalated(EventData):
    """The churn-warning journey gave up on automatic win-back: a high-value member needs a call."""

    SOURCE = CAMPAIGNS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "journey_execution_id": "churn-warning-01HX9ZK3M5N7P9Q1R3S5T7V9WX-20240502",
        "value_level": "high",
        "recency_days": 89,
        "win_back_coupon_id": "01HY0000000000000000000001",
        "escalated_at": "2024-05-16T18:00:00.000000Z",
    }

    member_id: Id
    journey_execution_id: Id
    value_level: Level
    recency_days: int | None = Field(ge=0)
    win_back_coupon_id: Id | None
    escalated_at: UtcDateTime


# --- tickets ---------------------------------------------------------------------------------


class TicketOpened(EventData):
    """A service request was opened (by a member, staff, or a journey)."""

    SOURCE = TICKETS
    EXAMPLE = {
        "ticket_id": "01HZ1111111111111111111111",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "category": "complaint",
        "channel": "mini_program",
        "priority": "high",
        "opened_at": "2024-05-05T03:00:00.000000Z",
    }

    ticket_id: Id
    member_id: Id | None
    category: TicketCategory
    channel: Literal["mini_program", "phone", "counter", "email", "journey", "staff"]
    priority: Level
    opened_at: UtcDateTime


class TicketResolved(EventData):
    """A service request was resolved; the survey follows."""

    SOURCE = TICKETS
    EXAMPLE = {
        "ticket_id": "01HZ1111111111111111111111",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "category": "complaint",
        "resolution": "resolved",
        "sla_breached": False,
        "resolved_by": "staff-sub-1234",
        "opened_at": "2024-05-05T03:00:00.000000Z",
        "resolved_at": "2024-05-05T05:00:00.000000Z",
    }

    ticket_id: Id
    member_id: Id | None
    category: TicketCategory
    resolution: Literal["resolved", "auto_replied", "duplicate", "no_response", "rejected"]
    sla_breached: bool
    resolved_by: Id = Field(description="Staff subject, or 'system'.")
    opened_at: UtcDateTime
    resolved_at: UtcDateTime


class SurveyAnswered(EventData):
    """A member answered the satisfaction survey of a resolved ticket."""

    SOURCE = TICKETS
    EXAMPLE = {
        "survey_id": "01HZ3333333333333333333333",
        "ticket_id": "01HZ1111111111111111111111",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "csat": 4,
        "answered_at": "2024-05-05T09:00:00.000000Z",
    }

    survey_id: Id
    ticket_id: Id
    member_id: Id | None
    csat: int = Field(ge=1, le=5, description="Customer satisfaction, 1 (very unhappy) to 5.")
    answered_at: UtcDateTime


# --- registry and consumer side --------------------------------------------------------------

ALL_EVENTS: Mapping[str, type[EventData]] = MappingProxyType(_REGISTRY)
"""Every event model by detail-type."""


class UnknownEventType(KeyError):
    """No model has this detail-type."""


class UnsupportedEventVersion(ValueError):
    """The event was produced under a different (breaking) version of its model."""


def model_for(detail_type: str) -> type[EventData]:
    """The model for a detail-type; :class:`UnknownEventType` if there is none."""
    try:
        return ALL_EVENTS[detail_type]
    except KeyError:
        raise UnknownEventType(detail_type) from None


EventT = TypeVar("EventT", bound=EventData)


def parse_data(model: type[EventT], data: Mapping[str, Any]) -> EventT:
    """Tolerant parse of an event's ``data``: unknown keys (a newer producer's) are ignored."""
    return model.model_validate(data, extra="ignore")


def consume(model: type[EventT], detail: Mapping[str, Any] | str) -> tuple[EventMetadata, EventT]:
    """Tolerant parse of an EventBridge ``detail`` into metadata and ``model``.

    Unknown keys are ignored at every level; a different ``event_version`` raises
    :class:`UnsupportedEventVersion` (versions change only for breaking changes, so guessing
    would be worse than failing into the DLQ).
    """
    raw = json.loads(detail) if isinstance(detail, str) else detail
    metadata = EventMetadata.model_validate(raw["metadata"], extra="ignore")
    if metadata.event_version != model.VERSION:
        raise UnsupportedEventVersion(
            f"{model.__name__} v{metadata.event_version} received; this consumer knows v{model.VERSION}"
        )
    return metadata, parse_data(model, raw["data"])
