"""Member routes (``MemberToken``): open a ticket, read one's own tickets, write, accept or escalate
an automatic answer, answer the survey, search the knowledge base.

Another member's ticket answers 404 ``ticket_not_found``, exactly like a ticket that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from services.tickets.handlers.routes.common import Deps, intake, member_view
from services.tickets.logic.attachments import check_attachments, member_prefix
from services.tickets.logic.errors import TicketNotFound
from services.tickets.models.api import (
    AutoReplyDecision,
    KbHit,
    KbSearchOut,
    MessageCreate,
    SurveyAnswer,
    TicketCreate,
    TicketList,
    TicketOut,
)
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_member
from shared.ids import new_ulid
from shared.web import Path, Query, Response, Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Callable

    from services.tickets.logic.kb import Hit
    from services.tickets.logic.tickets import Change
    from services.tickets.models.entities import Ticket

# The ticket logic (classifier, policy, event contracts) is imported inside the routes that change a
# ticket (cold start: reads and the knowledge-base search do not need it).
router = Router()
TICKET_ID = r"^[0-9A-HJKMNP-TV-Z]{26}$"
TicketId = Annotated[str, Path(pattern=TICKET_ID)]


def _member() -> str:
    return require_member(principal_from_event(router.current_event.raw_event))


def _own(deps: Deps, ticket_id: str, member_id: str) -> TicketOut:
    ticket = deps.repo.get(ticket_id)
    if ticket is None or ticket.member_id != member_id or ticket.erased:
        raise TicketNotFound()
    return member_view(ticket, deps.repo.messages(ticket_id, include_internal=False), deps)


def _decide_own(
    deps: Deps, ticket_id: str, member_id: str, decision: Callable[[Ticket], Change | None]
) -> TicketOut:
    """Apply the member's decision to their ticket (decided again on a lost race; the logic refuses
    another member's ticket as not found), then answer with the ticket as they now see it."""
    from services.tickets.logic.tickets import mutate  # noqa: PLC0415 - cold start

    mutate(deps.repo, ticket_id, decision)
    return _own(deps, ticket_id, member_id)


@router.post(
    "/v1/members/me/tickets",
    summary="Open a service request",
    tags=["tickets"],
    responses={201: {"description": "Opened", "content": {"application/json": {"model": TicketOut}}}},
)
def open_member_ticket(body: TicketCreate) -> Response[str]:
    member_id = _member()
    check_attachments(body.attachments, member_prefix(member_id))
    deps = Deps.load()
    change = intake(deps, body, member_id=member_id, channel="mini_program", opened_by="member")
    view = member_view(change.after, change.messages, deps)
    return json_response(201, view.model_dump(mode="json"))


@router.get("/v1/members/me/tickets", summary="My service requests, newest first", tags=["tickets"])
def list_member_tickets(limit: Annotated[int, Query(ge=1, le=50)] = 20) -> TicketList:
    member_id = _member()
    deps = Deps.load()
    return TicketList(items=[member_view(t) for t in deps.repo.member_tickets(member_id, limit)])


@router.get("/v1/members/me/tickets/<ticket_id>", summary="One of my service requests", tags=["tickets"])
def get_member_ticket(ticket_id: TicketId) -> TicketOut:
    return _own(Deps.load(), ticket_id, _member())


@router.post("/v1/members/me/tickets/<ticket_id>/messages", summary="Write on my ticket", tags=["tickets"])
def post_member_message(ticket_id: TicketId, body: MessageCreate) -> TicketOut:
    from services.tickets.logic.tickets import add_member_message  # noqa: PLC0415 - cold start

    member_id = _member()
    check_attachments(body.attachments, member_prefix(member_id))
    deps = Deps.load()
    return _decide_own(
        deps,
        ticket_id,
        member_id,
        lambda t: add_member_message(
            t,
            member_id=member_id,
            body=body.text,
            attachments=body.attachments,
            now=clock.now(),
            new_id=new_ulid,
            reopen_days=deps.settings.reopen_days,
        ),
    )


@router.post(
    "/v1/members/me/tickets/<ticket_id>/auto-reply",
    summary="Accept the automatic answer, or ask for a person",
    tags=["tickets"],
)
def post_auto_reply_decision(ticket_id: TicketId, body: AutoReplyDecision) -> TicketOut:
    from services.tickets.logic.tickets import decide_auto_reply  # noqa: PLC0415 - cold start

    member_id = _member()
    return _decide_own(
        Deps.load(),
        ticket_id,
        member_id,
        lambda t: decide_auto_reply(
            t, member_id=member_id, action=body.action, now=clock.now(), new_id=new_ulid
        ),
    )


@router.post(
    "/v1/members/me/tickets/<ticket_id>/survey",
    summary="Rate how my resolved ticket was handled (once)",
    tags=["tickets"],
)
def post_survey(ticket_id: TicketId, body: SurveyAnswer) -> TicketOut:
    from services.tickets.logic.tickets import answer_survey  # noqa: PLC0415 - cold start

    member_id = _member()
    return _decide_own(
        Deps.load(),
        ticket_id,
        member_id,
        lambda t: answer_survey(
            t,
            member_id=member_id,
            survey_id=new_ulid(),
            csat=body.csat,
            comment=body.comment,
            now=clock.now(),
            new_id=new_ulid,
        ),
    )


@router.get("/v1/kb/search", summary="Search the knowledge base", tags=["knowledge-base"])
def search_kb(
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> KbSearchOut:
    principal_from_event(router.current_event.raw_event)  # any authenticated caller
    snapshot = Deps.load().kb.snapshot()
    hits: list[Hit] = snapshot.index.search(q, limit)
    cards = snapshot.cards
    return KbSearchOut(
        items=[
            KbHit(
                article_id=h.article_id,
                title=cards[h.article_id].title,
                excerpt=cards[h.article_id].excerpt,
                score=h.score,
            )
            for h in hits
            if h.article_id in cards
        ]
    )
