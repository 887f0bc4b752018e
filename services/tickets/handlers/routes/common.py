"""What every tickets route needs: settings, repositories, the caller, views, and ticket intake
(shared by the member and staff routes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.tickets.models.api import MessageOut, StaffTicketOut, TicketCreate, TicketOut
from services.tickets.models.settings import TicketsSettings
from shared import clock
from shared.ids import new_ulid
from shared.observability import get_logger
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.tickets.dal.kb import DynamoKbRepository
    from services.tickets.dal.tickets import DynamoTicketsRepository
    from services.tickets.logic.tickets import Change
    from services.tickets.models.entities import Message, Ticket, TicketChannel

# Cold start: the repositories, the ticket logic (classifier, policy, event contracts) and the
# knowledge base (segmenter, index) are imported by the routes that use them, inside the function,
# so a route pays only for what it needs (docs/performance.md, tickets cold import).

STAFF_ROLES = ("service_agent", "admin")
INTAKE_ROLES = ("service_agent", "admin", "store_staff")
SUGGESTIONS = 3


@dataclass
class Deps:
    settings: TicketsSettings

    @classmethod
    def load(cls) -> Deps:
        return cls(load(TicketsSettings))

    @property
    def repo(self) -> DynamoTicketsRepository:
        from services.tickets.dal.tickets import DynamoTicketsRepository  # noqa: PLC0415 - cold start

        return DynamoTicketsRepository(self.settings.table_name)

    @property
    def kb(self) -> DynamoKbRepository:
        from services.tickets.dal.kb import DynamoKbRepository  # noqa: PLC0415 - cold start

        return DynamoKbRepository(self.settings.table_name)

    def rewards(self) -> list[Mapping[str, Any]]:
        from services.tickets.dal.adapters import LambdaRewardsCatalogue  # noqa: PLC0415 - cold start

        if not self.settings.loyalty_offers_function:
            raise RuntimeError("LOYALTY_OFFERS_FUNCTION is not set")
        return list(LambdaRewardsCatalogue(self.settings.loyalty_offers_function).list_rewards())


def intake(
    deps: Deps, body: TicketCreate, *, member_id: str | None, channel: TicketChannel, opened_by: str
) -> Change:
    """Open a ticket from a member's request, or one staff record for someone, with suggestions
    and, for a member's common question, an automatic answer. Helpers that fail (the KB, the
    member-value projection) never stop the ticket."""
    # Imported here (cold start): only the intake routes need the classifier and the KB.
    from services.tickets.logic.kb import auto_answer  # noqa: PLC0415
    from services.tickets.logic.tickets import OpenRequest, open_ticket  # noqa: PLC0415

    request = OpenRequest(
        ticket_id=new_ulid(),
        member_id=member_id,
        channel=channel,
        opened_by=opened_by,
        subject=body.subject or body.text[:40],
        text=body.text,
        category=body.category,
        store_id=body.store_id,
        tenant_id=body.tenant_id,
        purchase_ref=body.purchase_ref,
        coupon_ref=body.coupon_ref,
        attachments=tuple(body.attachments),
    )
    log = get_logger()
    repo = deps.repo
    text = f"{request.subject}\n{request.text}"
    suggestions: list[str] = []
    answer = None
    try:
        kb = deps.kb
        snapshot = kb.snapshot()
        suggestions = [hit.article_id for hit in snapshot.index.search(text, SUGGESTIONS)]
        if request.opened_by == "member" and request.category in (None, "inquiry"):
            answer = auto_answer(
                text,
                article_for=lambda intent: kb.article_for_intent(snapshot, intent),
                rewards=deps.rewards,
            )
    except Exception:
        log.exception("knowledge base unavailable; ticket opened without suggestions")
    value_level = None
    if request.member_id:
        try:
            value_level = repo.value_level(request.member_id)
        except Exception:
            log.exception("member value unavailable; priority without it")
    change = open_ticket(
        request,
        now=clock.now(),
        new_id=new_ulid,
        rules=repo.routing_rules(),
        value_level=value_level,
        suggestions=suggestions,
        auto_answer=answer,
    )
    from services.tickets.dal.tickets import MemberErasedRefused  # noqa: PLC0415 - cold start
    from services.tickets.logic.errors import MemberNotFound  # noqa: PLC0415

    try:
        repo.apply(change)
    except MemberErasedRefused:
        raise MemberNotFound() from None
    return change


def _messages(messages: list[Message], *, staff: bool) -> list[MessageOut]:
    return [
        MessageOut(
            message_id=m.message_id,
            author_kind=m.author_kind,
            # Members see that staff answered, not which staff account.
            author_id=m.author_id if staff or m.author_kind != "staff" else None,
            visibility=m.visibility,
            body=m.body,
            attachments=m.attachments,
            created_at=m.created_at,
        )
        for m in messages
        if staff or m.visibility == "public"
    ]


def _suggested(deps: Deps | None, ticket: Ticket) -> list[dict[str, Any]]:
    if deps is None or not ticket.suggested_articles:
        return []
    try:
        cards = deps.kb.snapshot().cards
    except Exception:
        return []
    return [{"article_id": a, "title": cards[a].title} for a in ticket.suggested_articles if a in cards]


def member_view(ticket: Ticket, messages: list[Message] | None = None, deps: Deps | None = None) -> TicketOut:
    data = ticket.model_dump()
    data["messages"] = _messages(messages or [], staff=False)
    data["suggested_articles"] = _suggested(deps, ticket)
    return TicketOut.model_validate(data)


def staff_view(
    ticket: Ticket, messages: list[Message] | None = None, deps: Deps | None = None
) -> StaffTicketOut:
    now = clock.now()
    due = ticket.first_response_due_at if ticket.first_responded_at is None else ticket.resolution_due_at
    data = ticket.model_dump()
    data["messages"] = _messages(messages or [], staff=True)
    data["suggested_articles"] = _suggested(deps, ticket)
    data["sla_overdue"] = ticket.active and now > due
    return StaffTicketOut.model_validate(data)
