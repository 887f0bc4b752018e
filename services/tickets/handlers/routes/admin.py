"""Staff routes on tickets (``StaffJwt``; service_agent and admin, store_staff may record a ticket):
queue view, one ticket, intake on a member's behalf, assignment, replies and notes, resolution,
overrides, points proposals, service metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from services.tickets.handlers.routes.common import INTAKE_ROLES, STAFF_ROLES, Deps, intake, staff_view
from services.tickets.logic.attachments import check_attachments, staff_prefix
from services.tickets.logic.errors import TicketNotFound
from services.tickets.models.api import (
    QUEUE_FILTER_PATTERN,
    AssignBody,
    OverrideBody,
    PointsProposal,
    QueueView,
    ReplyCreate,
    ResolveBody,
    StaffTicketCreate,
    StaffTicketOut,
)
from shared import clock
from shared.api import json_response
from shared.auth import principal_from_event, require_roles
from shared.errors import Unprocessable
from shared.ids import new_ulid
from shared.web import Path, Query, Response, Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Callable

    from services.tickets.logic.tickets import Change
    from services.tickets.models.entities import Ticket

# The ticket logic (classifier, policy, event contracts) is imported inside the routes that change a
# ticket (cold start: the queue view and reads do not need it).
router = Router()
TicketId = Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
StatusFilter = Literal["open", "pending_member", "in_progress", "resolved", "closed", "active", "all"]
MemberId = Annotated[str | None, Query(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")]
QUEUE_VIEW_PARAMETERS = ("status", "queue", "member_id", "limit")


def _staff(*roles: str) -> str:
    return require_roles(
        principal_from_event(router.current_event.raw_event), *(roles or STAFF_ROLES)
    ).subject


def _full(deps: Deps, ticket_id: str) -> StaffTicketOut:
    ticket = deps.repo.get(ticket_id)
    if ticket is None:
        raise TicketNotFound()
    return staff_view(ticket, deps.repo.messages(ticket_id, include_internal=True), deps)


def _decide(deps: Deps, ticket_id: str, decision: Callable[[Ticket], Change | None]) -> StaffTicketOut:
    """Apply a staff decision to the ticket (decided again on a lost race), then answer with the
    ticket as it now is."""
    from services.tickets.logic.tickets import mutate  # noqa: PLC0415 - cold start

    mutate(deps.repo, ticket_id, decision)
    return _full(deps, ticket_id)


@router.get(
    "/v1/admin/tickets",
    summary="Queue view: by priority, then SLA due time",
    description="status: one status, `active` (open, pending_member, in_progress; the default) or "
    "`all`; queue: one queue; member_id: only that member's tickets, and `counts` are then the "
    "member's own. An unknown query parameter is 422 (a filter that would be ignored).",
    tags=["admin-tickets"],
)
def queue_view(
    status: Annotated[StatusFilter, Query()] = "active",
    queue: Annotated[str | None, Query(pattern=QUEUE_FILTER_PATTERN)] = None,
    member_id: MemberId = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueueView:
    from services.tickets.logic.queue import member_list, statuses_for, unknown_parameters  # noqa: PLC0415

    _staff()
    unknown = unknown_parameters(router.current_event.query_string_parameters, QUEUE_VIEW_PARAMETERS)
    if unknown:
        raise Unprocessable(fields=unknown)
    deps = Deps.load()
    statuses = statuses_for(status)
    if member_id is not None:
        # The member's tickets through their pointers (MEMBER#<id> / TICKET#…): Query + BatchGetItem.
        mine, counts = member_list(
            deps.repo.member_tickets(member_id, None), statuses=statuses, queue=queue, limit=limit
        )
        return QueueView(items=[staff_view(t) for t in mine], counts=counts)
    tickets = deps.repo.queue_view(queue=queue, statuses=statuses, limit=limit)
    return QueueView(items=[staff_view(t) for t in tickets], counts=deps.repo.counts(queue))


@router.post(
    "/v1/admin/tickets",
    summary="Record a call, e-mail, social-media message or counter visit as a ticket",
    tags=["admin-tickets"],
    responses={201: {"description": "Opened", "content": {"application/json": {"model": StaffTicketOut}}}},
)
def open_staff_ticket(body: StaffTicketCreate) -> Response[str]:
    actor = _staff(*INTAKE_ROLES)
    check_attachments(body.attachments, staff_prefix(actor))
    deps = Deps.load()
    change = intake(deps, body, member_id=body.member_id, channel=body.channel, opened_by=actor)
    return json_response(201, staff_view(change.after, change.messages, deps).model_dump(mode="json"))


@router.get(
    "/v1/admin/tickets/<ticket_id>",
    summary="One ticket with notes and classification",
    tags=["admin-tickets"],
)
def get_ticket(ticket_id: TicketId) -> StaffTicketOut:
    _staff()
    return _full(Deps.load(), ticket_id)


@router.patch(
    "/v1/admin/tickets/<ticket_id>",
    summary="Override category, priority, topic or queue (kept over later suggestions)",
    tags=["admin-tickets"],
)
def patch_ticket(ticket_id: TicketId, body: OverrideBody) -> StaffTicketOut:
    from services.tickets.logic.tickets import override  # noqa: PLC0415 - cold start

    actor = _staff()
    return _decide(
        Deps.load(),
        ticket_id,
        lambda t: override(
            t,
            by=actor,
            category=body.category,
            priority=body.priority,
            topic=body.topic,
            queue=body.queue,
            now=clock.now(),
        ),
    )


@router.post("/v1/admin/tickets/<ticket_id>/assign", summary="Assign to an agent", tags=["admin-tickets"])
def assign_ticket(ticket_id: TicketId, body: AssignBody) -> StaffTicketOut:
    from services.tickets.logic.tickets import assign  # noqa: PLC0415 - cold start

    actor = _staff()
    deps = Deps.load()
    repo = deps.repo

    def operation(ticket: Any) -> Any:
        if body.agent_id is not None:
            agent = repo.agent(body.agent_id)
            agents = [agent] if agent is not None else []
        else:
            agents = repo.agents_of_queue(body.queue or ticket.queue)
        return assign(
            ticket, agent_id=body.agent_id, queue=body.queue, by=actor, agents=agents, now=clock.now()
        )

    return _decide(deps, ticket_id, operation)


@router.post(
    "/v1/admin/tickets/<ticket_id>/replies",
    summary="Reply to the member, or add an internal note",
    tags=["admin-tickets"],
)
def post_reply(ticket_id: TicketId, body: ReplyCreate) -> StaffTicketOut:
    from services.tickets.logic.tickets import staff_reply  # noqa: PLC0415 - cold start

    actor = _staff()
    check_attachments(body.attachments, staff_prefix(actor))
    return _decide(
        Deps.load(),
        ticket_id,
        lambda t: staff_reply(
            t,
            agent_id=actor,
            body=body.text,
            internal=body.internal,
            status_after=body.status_after,
            attachments=body.attachments,
            now=clock.now(),
            new_id=new_ulid,
        ),
    )


@router.post(
    "/v1/admin/tickets/<ticket_id>/resolve",
    summary="Resolve (the member is asked to rate it)",
    tags=["admin-tickets"],
)
def resolve_ticket(ticket_id: TicketId, body: ResolveBody) -> StaffTicketOut:
    from services.tickets.logic.tickets import resolve  # noqa: PLC0415 - cold start

    actor = _staff()
    return _decide(
        Deps.load(),
        ticket_id,
        lambda t: resolve(
            t, by=actor, resolution=body.resolution, note=body.note, now=clock.now(), new_id=new_ulid
        ),
    )


@router.post(
    "/v1/admin/tickets/<ticket_id>/points-adjustments",
    summary="Propose a points adjustment (loyalty's second approver applies it)",
    tags=["admin-tickets"],
    responses={202: {"description": "Proposed", "content": {"application/json": {"model": StaffTicketOut}}}},
)
def propose_adjustment(ticket_id: TicketId, body: PointsProposal) -> Response[str]:
    from services.tickets.logic.tickets import propose_points  # noqa: PLC0415 - cold start

    actor = _staff()
    view = _decide(
        Deps.load(),
        ticket_id,
        lambda t: propose_points(
            t,
            agent_id=actor,
            points=body.points,
            reason=body.reason,
            request_id=new_ulid(),
            now=clock.now(),
            new_id=new_ulid,
        ),
    )
    return json_response(202, view.model_dump(mode="json"))


@router.get(
    "/v1/admin/ticket-metrics", summary="CSAT, first-response and resolution times", tags=["admin-tickets"]
)
def metrics() -> dict[str, Any]:
    _staff("service_agent", "admin")
    rows = Deps.load().repo.stats()
    out: dict[str, dict[str, Any]] = {"queue": {}, "agent": {}, "store": {}}
    for row in rows:
        kind, _, name = str(row["sk"]).partition("#")
        surveys = int(row.get("surveys", 0))
        responses = int(row.get("first_responses", 0))
        resolutions = int(row.get("resolutions", 0))
        out.setdefault(kind.lower(), {})[name] = {
            "surveys": surveys,
            "csat_average": round(int(row.get("csat_sum", 0)) / surveys, 2) if surveys else None,
            "low_csat": int(row.get("low_csat", 0)),
            "first_responses": responses,
            "first_response_minutes_average": (
                round(int(row.get("first_response_seconds", 0)) / responses / 60, 1) if responses else None
            ),
            "resolutions": resolutions,
            "resolution_minutes_average": (
                round(int(row.get("resolution_seconds", 0)) / resolutions / 60, 1) if resolutions else None
            ),
            "sla_breaches": int(row.get("breaches_first_response", 0))
            + int(row.get("breaches_resolution", 0)),
        }
    return out
