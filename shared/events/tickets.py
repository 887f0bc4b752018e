"""The events tickets publishes (re-exported by :mod:`shared.events.contracts`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from shared.events.base import TICKETS, EventData, Id, Level, TicketCategory, TicketChannel, TicketPriority
from shared.events.envelope import UtcDateTime

__all__ = [
    "NotificationRequested",
    "PointsAdjustmentRequested",
    "SurveyAnswered",
    "TicketAssigned",
    "TicketOpened",
    "TicketResolved",
    "TicketSlaBreached",
]


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
    channel: Literal["mini_program", "phone", "counter", "email", "journey", "staff"] = Field(
        description="v1 values; a social-media message recorded by staff is reported as 'staff' "
        "(recorded_channel is exact)."
    )
    priority: Level = Field(
        description="v1 levels; 'urgent' is reported as 'high' (priority_level is exact)."
    )
    opened_at: UtcDateTime
    recorded_channel: TicketChannel | None = Field(
        default=None, description="Added 2026-11: the intake channel as recorded (adds 'social')."
    )
    priority_level: TicketPriority | None = Field(
        default=None, description="Added 2026-11: the exact priority (adds 'urgent')."
    )
    queue: Id | None = Field(default=None, description="Added 2026-11: the queue it was routed to.")
    store_id: Id | None = Field(default=None, description="Added 2026-11: the store it concerns, if any.")
    sentiment: Literal["negative", "neutral", "positive"] | None = Field(
        default=None, description="Added 2026-11: the sentiment classified from the text."
    )


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


class TicketAssigned(EventData):
    """A ticket was routed or assigned to a queue and (optionally) an agent."""

    SOURCE = TICKETS
    EXAMPLE = {
        "ticket_id": "01HZ1111111111111111111111",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "queue": "front_desk",
        "agent_id": "staff-sub-1234",
        "assigned_by": "system",
        "priority": "high",
        "category": "complaint",
        "assigned_at": "2024-05-05T03:00:01.000000Z",
    }

    ticket_id: Id
    member_id: Id | None
    queue: Id = Field(description="front_desk, loyalty_desk, parking, supervisor or tenant:<tenant_id>.")
    agent_id: Id | None = Field(description="Staff subject; null while the ticket waits in the queue.")
    assigned_by: Id = Field(description="Staff subject, or 'system' (routing, workload balancing).")
    priority: TicketPriority
    category: TicketCategory
    assigned_at: UtcDateTime


class TicketSlaBreached(EventData):
    """A ticket missed its first-response or resolution target; it was escalated."""

    SOURCE = TICKETS
    EXAMPLE = {
        "ticket_id": "01HZ1111111111111111111111",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "target": "first_response",
        "due_at": "2024-05-05T04:00:00.000000Z",
        "breached_at": "2024-05-05T04:00:00.000000Z",
        "previous_priority": "high",
        "priority": "urgent",
        "queue": "supervisor",
        "previous_queue": "front_desk",
        "category": "complaint",
    }

    ticket_id: Id
    member_id: Id | None
    target: Literal["first_response", "resolution"]
    due_at: UtcDateTime
    breached_at: UtcDateTime
    previous_priority: TicketPriority
    priority: TicketPriority = Field(description="After the escalation (one level up, at most urgent).")
    queue: Id = Field(description="After the escalation: the supervisor queue.")
    previous_queue: Id
    category: TicketCategory


class NotificationRequested(EventData):
    """Tickets asks campaigns to tell a member something (contract C): a transactional message.

    Campaigns turns it into a ``SendRequest(kind="transactional")`` with ``send_id =
    ntf#<notification_id>``: it bypasses marketing caps and quiet hours but needs the channel's
    consent (the in-app inbox is always allowed). ``title`` and ``body`` are shown to the member
    themself and are the only free text in an event; they never carry another person's data.
    """

    SOURCE = TICKETS
    EXAMPLE = {
        "notification_id": "01HZ4444444444444444444444",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "topic": "ticket_reply",
        "title": "客服回复了您的工单",
        "body": "您好 停车费已为您退回 请查收",
        "link": "/pages/tickets/detail?id=01HZ1111111111111111111111",
        "requested_at": "2024-05-05T04:10:00.000000Z",
        "ticket_id": "01HZ1111111111111111111111",
    }

    notification_id: Id = Field(description="Idempotency key: one message per notification id.")
    member_id: Id
    topic: Literal["ticket_reply", "ticket_status", "survey_request"]
    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=1000)
    link: str | None = Field(max_length=500, description="A mini-program page path, or null.")
    requested_at: UtcDateTime
    ticket_id: Id | None = Field(default=None, description="The ticket it is about, if any.")


class PointsAdjustmentRequested(EventData):
    """An agent proposed a points adjustment from a ticket (contract D).

    Loyalty creates a *pending* adjustment that a second person must approve (the rule of
    ``POST /v1/admin/points-adjustments``); it answers with ``PointsAdjusted`` (carrying the
    ``ticket_id``) once applied. Idempotent on ``request_id``.
    """

    SOURCE = TICKETS
    EXAMPLE = {
        "request_id": "01HZ5555555555555555555555",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "points": 259,
        "reason": "points_dispute: purchase POS-2024-000123 not credited",
        "ticket_id": "01HZ1111111111111111111111",
        "requested_by": "staff-sub-1234",
        "requested_at": "2024-05-05T04:20:00.000000Z",
    }

    request_id: Id
    member_id: Id
    points: int = Field(description="Non-zero: positive credits, negative debits.")
    reason: str = Field(min_length=1, max_length=200)
    ticket_id: Id
    requested_by: Id = Field(description="Staff subject of the agent who proposed it.")
    requested_at: UtcDateTime

    @field_validator("points")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("points must not be zero")
        return value
