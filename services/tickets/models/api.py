"""Request and response bodies of the tickets API.

Every model is ``defer_build``: a route's validator is built on the first request that uses it, so
the API's cold import does not pay for the two dozen models (each invocation uses one or two). The
category and priority literals come from ``models/entities`` (not from the event catalogue,
``shared.events.contracts``, which costs ~70 ms of import)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.tickets.models.entities import TicketCategory, TicketPriority

MAX_TEXT = 2000
ObjectKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9!_.*'()/-]{0,255}$")]
REF_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"
RefId = Annotated[str, StringConstraints(pattern=rf"^{REF_ID}$")]
# A tenant's queue is named by the tenant id as tickets accept it (RefId), so that routing's
# ``tenant:<tenant_id>`` can be listed and given agents whatever the mall's ids look like.
QUEUE_PATTERN = rf"^(front_desk|loyalty_desk|parking|supervisor|tenant:{REF_ID})$"
# A queue filter on the lists (any queue name the desk may hold).
QUEUE_FILTER_PATTERN = rf"^[a-z_]{{1,20}}(:{REF_ID})?$"
QueueName = Annotated[str, StringConstraints(pattern=QUEUE_PATTERN)]


def _text(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be empty")
    return stripped


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class _Out(BaseModel):
    model_config = ConfigDict(defer_build=True)


class TicketCreate(_Body):
    """A member's service request from the mini-program."""

    text: str = Field(min_length=1, max_length=MAX_TEXT, description="What happened, in the member's words.")
    subject: str | None = Field(default=None, max_length=100)
    category: TicketCategory | None = Field(
        default=None, description="The member's choice; suggested when left out."
    )
    store_id: RefId | None = None
    tenant_id: RefId | None = None
    purchase_ref: RefId | None = Field(default=None, description="A purchase id or till receipt number.")
    coupon_ref: RefId | None = None
    attachments: list[ObjectKey] = Field(
        default_factory=list, max_length=5, description="Uploaded object keys."
    )

    _strip = field_validator("text")(_text)


class StaffTicketCreate(TicketCreate):
    """Staff record a call, an e-mail, a social-media message or a counter visit for a member."""

    member_id: RefId | None = Field(default=None, description="Null for someone who is not a member.")
    channel: Literal["phone", "email", "social", "counter"]


class MessageCreate(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    attachments: list[ObjectKey] = Field(default_factory=list, max_length=5)

    _strip = field_validator("text")(_text)


class ReplyCreate(MessageCreate):
    internal: bool = Field(default=False, description="An internal note: staff only, the member is not told.")
    status_after: Literal["pending_member", "in_progress"] = "pending_member"


class SurveyAnswer(_Body):
    csat: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class AutoReplyDecision(_Body):
    action: Literal["accept", "escalate"]


class AssignBody(_Body):
    agent_id: RefId | None = Field(
        default=None, description="Omit to pick the least-loaded agent of the queue."
    )
    queue: QueueName | None = None


class ResolveBody(_Body):
    resolution: Literal["resolved", "duplicate", "no_response", "rejected"] = "resolved"
    note: str | None = Field(default=None, max_length=MAX_TEXT, description="Shown to the member.")


class OverrideBody(_Body):
    category: TicketCategory | None = None
    priority: TicketPriority | None = None
    topic: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = None
    queue: QueueName | None = None


class PointsProposal(_Body):
    points: int = Field(ge=-100_000, le=100_000, description="Non-zero; negative takes points back.")
    reason: str = Field(min_length=3, max_length=150)

    @field_validator("points")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class AgentBody(_Body):
    display_name: str = Field(min_length=1, max_length=60)
    queues: list[QueueName] = Field(min_length=1, max_length=10)
    active: bool = True


class RoutingRuleBody(_Body):
    position: int = Field(ge=0, le=10_000)
    match: dict[Literal["category", "topic", "store_id", "tenant_id", "channel"], RefId] = Field(min_length=1)
    queue: QueueName
    enabled: bool = True


class ArticleBody(_Body):
    title: str = Field(min_length=1, max_length=120)
    body: str = Field(min_length=1, max_length=10_000)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=30)]] = Field(
        default_factory=list, max_length=10
    )
    intent: Literal["opening_hours", "parking_fee", "reward_points"] | None = None
    status: Literal["published", "draft"] = "published"


class ArticleCreate(ArticleBody):
    article_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$")]


class ArticleUpdate(ArticleBody):
    version: int = Field(ge=1)


class MessageOut(_Out):
    message_id: str
    author_kind: str
    author_id: str | None
    visibility: str
    body: str
    attachments: list[str]
    created_at: datetime


class TicketOut(_Out):
    ticket_id: str
    kind: str
    status: str
    category: str
    topic: str
    priority: str
    channel: str
    subject: str
    description: str
    store_id: str | None
    tenant_id: str | None
    purchase_ref: str | None
    coupon_ref: str | None
    attachments: list[str]
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution: str | None
    auto_reply: dict[str, Any] | None
    suggested_articles: list[dict[str, Any]] = Field(default_factory=list)
    survey: dict[str, Any] | None
    messages: list[MessageOut] = Field(default_factory=list)


class StaffTicketOut(TicketOut):
    member_id: str | None
    category_source: str
    priority_source: str
    classification: dict[str, Any]
    queue: str
    agent_id: str | None
    first_response_due_at: datetime
    resolution_due_at: datetime
    first_responded_at: datetime | None
    sla_breaches: list[str]
    sla_overdue: bool
    reopened_count: int
    low_csat: bool
    points_requests: list[dict[str, Any]]


class TicketList(_Out):
    items: list[TicketOut]


class QueueView(_Out):
    items: list[StaffTicketOut]
    counts: dict[str, dict[str, int]] = Field(
        description="{queue: {status: tickets}}, from counters; with member_id, the member's tickets."
    )


class KbHit(_Out):
    article_id: str
    title: str
    excerpt: str
    score: float


class KbSearchOut(_Out):
    items: list[KbHit]


class ArticleOut(_Out):
    article_id: str
    title: str
    body: str
    tags: list[str]
    intent: str | None
    status: str
    version: int
    updated_at: datetime
    updated_by: str
