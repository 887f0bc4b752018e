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

import importlib
from typing import TYPE_CHECKING, Any

from shared.events.base import (
    CAMPAIGNS,
    LOYALTY,
    MEMBERS,
    SOURCES,
    TICKETS,
    ContractModel,
    EventData,
    UnknownEventType,
    UnsupportedEventVersion,
    all_events,
    consume,
    model_for,
    parse_data,
)

if TYPE_CHECKING:  # pragma: no cover - typing only; at run time the names below load lazily
    from collections.abc import Mapping

    from shared.events.campaigns import (
        CampaignLaunched,
        ChurnRiskEscalated,
        MarketingComplaintReceived,
        MessageClicked,
        MessageDelivered,
        MessageSent,
        MessageSuppressed,
    )
    from shared.events.loyalty import (
        CouponExpiring,
        CouponIssued,
        CouponRedeemed,
        ParkingSessionSettled,
        PointsAdjusted,
        PointsAdjustmentRejected,
        PointsEarned,
        PointsExpired,
        PointsExpiring,
        PointsRedeemed,
        PointsReleased,
        PurchaseItem,
        PurchaseRecorded,
        PurchaseRefunded,
        RewardRedeemed,
        TierChanged,
    )
    from shared.events.members import (
        MemberBirthdayToday,
        MemberConsentChanged,
        MemberErased,
        MemberExportRequested,
        MemberProfileScored,
        MemberProfileUpdated,
        MemberRegistered,
        MemberVehiclesChanged,
    )
    from shared.events.tickets import (
        NotificationRequested,
        PointsAdjustmentRequested,
        SurveyAnswered,
        TicketAssigned,
        TicketOpened,
        TicketResolved,
        TicketSlaBreached,
    )

    ALL_EVENTS: Mapping[str, type[EventData]]

__all__ = [
    "ALL_EVENTS",
    "CAMPAIGNS",
    "LOYALTY",
    "MEMBERS",
    "SOURCES",
    "TICKETS",
    "CampaignLaunched",
    "ChurnRiskEscalated",
    "ContractModel",
    "CouponExpiring",
    "CouponIssued",
    "CouponRedeemed",
    "EventData",
    "MarketingComplaintReceived",
    "MemberBirthdayToday",
    "MemberConsentChanged",
    "MemberErased",
    "MemberExportRequested",
    "MemberProfileScored",
    "MemberProfileUpdated",
    "MemberRegistered",
    "MemberVehiclesChanged",
    "MessageClicked",
    "MessageDelivered",
    "MessageSent",
    "MessageSuppressed",
    "NotificationRequested",
    "ParkingSessionSettled",
    "PointsAdjusted",
    "PointsAdjustmentRejected",
    "PointsAdjustmentRequested",
    "PointsEarned",
    "PointsExpired",
    "PointsExpiring",
    "PointsRedeemed",
    "PointsReleased",
    "PurchaseItem",
    "PurchaseRecorded",
    "PurchaseRefunded",
    "RewardRedeemed",
    "SurveyAnswered",
    "TicketAssigned",
    "TicketOpened",
    "TicketResolved",
    "TicketSlaBreached",
    "TierChanged",
    "UnknownEventType",
    "UnsupportedEventVersion",
    "all_events",
    "consume",
    "model_for",
    "parse_data",
]

_EVENT_MODULES: dict[str, str] = {
    "CampaignLaunched": "campaigns",
    "ChurnRiskEscalated": "campaigns",
    "CouponExpiring": "loyalty",
    "CouponIssued": "loyalty",
    "CouponRedeemed": "loyalty",
    "MarketingComplaintReceived": "campaigns",
    "MemberBirthdayToday": "members",
    "MemberConsentChanged": "members",
    "MemberErased": "members",
    "MemberExportRequested": "members",
    "MemberProfileScored": "members",
    "MemberProfileUpdated": "members",
    "MemberRegistered": "members",
    "MemberVehiclesChanged": "members",
    "MessageClicked": "campaigns",
    "MessageDelivered": "campaigns",
    "MessageSent": "campaigns",
    "MessageSuppressed": "campaigns",
    "NotificationRequested": "tickets",
    "ParkingSessionSettled": "loyalty",
    "PointsAdjusted": "loyalty",
    "PointsAdjustmentRejected": "loyalty",
    "PointsAdjustmentRequested": "tickets",
    "PointsEarned": "loyalty",
    "PointsExpired": "loyalty",
    "PointsExpiring": "loyalty",
    "PointsRedeemed": "loyalty",
    "PointsReleased": "loyalty",
    "PurchaseItem": "loyalty",
    "PurchaseRecorded": "loyalty",
    "PurchaseRefunded": "loyalty",
    "RewardRedeemed": "loyalty",
    "SurveyAnswered": "tickets",
    "TicketAssigned": "tickets",
    "TicketOpened": "tickets",
    "TicketResolved": "tickets",
    "TicketSlaBreached": "tickets",
    "TierChanged": "loyalty",
}
"""Which service's module defines each event (a contract test checks it against the modules)."""


def __getattr__(name: str) -> Any:
    # PEP 562: an event class is imported with its service's module on first use, so a consumer
    # of one loyalty event never builds the members, campaigns and tickets models.
    if name == "ALL_EVENTS":
        return all_events()
    module = _EVENT_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"shared.events.{module}"), name)
