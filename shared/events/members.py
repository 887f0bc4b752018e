"""The events members publishes (re-exported by :mod:`shared.events.contracts`)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from shared.events.base import MEMBERS, Cents, ConsentPurpose, EventData, Id, Level, MessageChannel
from shared.events.envelope import UtcDateTime

__all__ = [
    "MemberBirthdayToday",
    "MemberConsentChanged",
    "MemberErased",
    "MemberExportRequested",
    "MemberProfileScored",
    "MemberProfileUpdated",
    "MemberRegistered",
    "MemberVehiclesChanged",
]


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


class MemberExportRequested(EventData):
    """A member asked for their data (PIPL Art. 45): every service holding some writes its part.

    Each service writes one JSON object ``<object_prefix><service>.json`` (``loyalty.json``,
    ``tickets.json``, ``campaigns.json``) to the members' export bucket (``MEMBER_EXPORTS_BUCKET``),
    before ``expires_at``; overwriting is fine (idempotent). Members lists the prefix and hands the
    member download links (docs/contracts/export.md). No personal data in the event.
    """

    SOURCE = MEMBERS
    EXAMPLE = {
        "export_id": "01HXA0000000000000000000EX",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "requested_at": "2026-11-23T02:00:00.000000Z",
        "object_prefix": "exports/01HXA0000000000000000000EX/",
        "expires_at": "2026-11-30T02:00:00.000000Z",
    }

    export_id: Id
    member_id: Id
    requested_at: UtcDateTime
    object_prefix: Id = Field(description="Key prefix in the export bucket, ending in '/'.")
    expires_at: UtcDateTime = Field(description="Parts are deleted (bucket lifecycle) after this.")


class MemberVehiclesChanged(EventData):
    """Car plates were linked to or unlinked from a member (proposed by loyalty, produced by members;
    docs/contracts/plates.md). Keyed hashes only (``vehicle_ref`` = the plate's lookup hash,
    HMAC-SHA256 under members' lookup pepper), never a plate: loyalty keeps a plate → member
    projection for parking benefits without reading members' table."""

    SOURCE = MEMBERS
    EXAMPLE = {
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "linked": ["9f2c6a0e5b1d4f7a8c3e2b1a0d9f8e7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"],
        "unlinked": [],
        "changed_at": "2024-04-01T02:00:00.000000Z",
    }

    member_id: Id
    linked: list[Id] = Field(default_factory=list, description="vehicle_refs now linked to the member.")
    unlinked: list[Id] = Field(default_factory=list, description="vehicle_refs no longer linked.")
    changed_at: UtcDateTime


class MemberBirthdayToday(EventData):
    """It is the member's birthday (``day`` mode) or birthday month (``month`` mode, sent on the 1st).

    Published by the daily birthday job (09:00 mall time) at most once per member per year of
    ``birthday_on`` (contract F; docs/contracts/birthdays.md). ``birthday_on`` is this year's birthday
    as a local date — Feb 29 births on Feb 28 in common years. No date of birth, no PII.
    """

    SOURCE = MEMBERS
    EXAMPLE = {"member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX", "birthday_on": "2026-11-23", "mode": "day"}

    member_id: Id
    birthday_on: date = Field(description="This year's birthday, local date (mall time zone).")
    mode: Literal["day", "month"] = Field(
        description="day: sent on the birthday; month: sent on the 1st for the whole birthday month."
    )
