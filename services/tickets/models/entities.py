"""What the tickets service stores: tickets, their messages, agents, routing rules, KB articles.

Plain pydantic models; ``services/tickets/dal`` maps them to items (keys in the README).
Times are aware UTC datetimes; ``extra="ignore"`` so an item written by a newer version of the
code still reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# The contracts' literals, repeated (importing shared.events.contracts costs ~70 ms of every cold
# start that never builds an event); tests/unit/tickets/test_cold_import.py keeps them equal.
TicketCategory = Literal["inquiry", "complaint", "after_sales", "points_dispute", "suggestion"]
TicketPriority = Literal["low", "medium", "high", "urgent"]
TicketChannel = Literal["mini_program", "phone", "counter", "email", "social", "journey", "staff"]

__all__ = [
    "ACTIVE_STATUSES",
    "PRIORITIES",
    "STATUSES",
    "Agent",
    "KbArticle",
    "Message",
    "RoutingRule",
    "Status",
    "Ticket",
    "TicketCategory",
    "TicketChannel",
    "TicketPriority",
]

Status = Literal["open", "pending_member", "in_progress", "resolved", "closed"]
STATUSES: tuple[Status, ...] = ("open", "pending_member", "in_progress", "resolved", "closed")
ACTIVE_STATUSES: tuple[Status, ...] = ("open", "pending_member", "in_progress")
PRIORITIES: tuple[TicketPriority, ...] = ("low", "medium", "high", "urgent")
Resolution = Literal["resolved", "auto_replied", "duplicate", "no_response", "rejected"]


class _Model(BaseModel):
    # defer_build: validators are built on first use, not at import (cold start).
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Ticket(_Model):
    ticket_id: str
    kind: Literal["service", "retention_call"] = "service"
    member_id: str | None = None
    channel: TicketChannel
    opened_by: str = Field(description="'member', a staff subject, or 'system'.")
    category: TicketCategory
    category_source: Literal["member", "auto", "staff"]
    topic: str = "other"
    priority: TicketPriority
    priority_source: Literal["auto", "staff", "sla"] = "auto"
    classification: dict[str, Any] = Field(default_factory=dict)
    subject: str
    description: str
    store_id: str | None = None
    tenant_id: str | None = None
    purchase_ref: str | None = None
    coupon_ref: str | None = None
    attachments: list[str] = Field(default_factory=list)
    queue: str
    agent_id: str | None = None
    status: Status = "open"
    opened_at: datetime
    updated_at: datetime
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: Resolution | None = None
    closed_at: datetime | None = None
    sla_breaches: list[Literal["first_response", "resolution"]] = Field(default_factory=list)
    reopened_count: int = 0
    survey: dict[str, Any] | None = None
    low_csat: bool = False
    auto_reply: dict[str, Any] | None = None
    suggested_articles: list[str] = Field(default_factory=list)
    points_requests: list[dict[str, Any]] = Field(default_factory=list)
    erased: bool = False
    member_pseudonym: str | None = Field(
        default=None, description="After the member's erasure: a pseudonym no one can trace back."
    )
    version: int = 1

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


class Message(_Model):
    message_id: str
    ticket_id: str
    author_kind: Literal["member", "staff", "system"]
    author_id: str
    visibility: Literal["public", "internal"]
    body: str
    attachments: list[str] = Field(default_factory=list)
    created_at: datetime


class Agent(_Model):
    agent_id: str = Field(description="The agent's staff subject (Cognito sub).")
    display_name: str
    queues: list[str]
    active: bool = True
    open_count: int = 0


class RoutingRule(_Model):
    rule_id: str
    position: int = Field(description="Lower runs first; the first rule that matches decides the queue.")
    match: dict[str, str] = Field(description="Any of category, topic, store_id, tenant_id, channel.")
    queue: str
    enabled: bool = True
    updated_at: datetime
    updated_by: str


class KbArticle(_Model):
    article_id: str
    title: str
    body: str
    tags: list[str] = Field(default_factory=list)
    intent: str | None = Field(default=None, description="The FAQ it answers (opening_hours, parking_fee).")
    status: Literal["published", "draft"] = "published"
    version: int = 1
    updated_at: datetime
    updated_by: str
