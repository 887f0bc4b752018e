"""Ticket operations: each one reads a ticket, decides, and returns a :class:`Change` — the new
ticket, messages, events, counters — that the repository writes in one transaction under a
condition on the version it read (:func:`mutate` retries a lost race).

Pure: no boto3, no environment. Times come in as arguments (the handlers pass ``clock.now()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from services.tickets.logic import policy
from services.tickets.logic.errors import (
    AgentNotFound,
    InvalidTransition,
    NoAgentAvailable,
    SurveyAlreadyAnswered,
    TicketChanged,
    TicketNotFound,
    TicketNotResolved,
)
from services.tickets.logic.messages import say
from services.tickets.models.entities import Agent, Message, RoutingRule, Ticket
from shared import clock
from shared.dynamo import ConditionalCheckFailed
from shared.errors import Unprocessable
from shared.observability import get_logger

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.tickets.logic.classify import Classification
    from shared.events.contracts import EventData, TicketAssigned

# Cold start: the event catalogue (shared.events.contracts, ~70 ms of pydantic models), the
# classifier (lexicon) and the PII scrubber are imported by the operations that build events,
# classify or scrub — an SLA timer that finds its target met, or a read, never loads them.

__all__ = [
    "AutoAnswer",
    "Change",
    "OpenRequest",
    "TicketRepository",
    "add_member_message",
    "answer_survey",
    "assign",
    "auto_close",
    "decide_auto_reply",
    "member_names",
    "mutate",
    "note_points_adjusted",
    "note_points_rejected",
    "open_ticket",
    "override",
    "propose_points",
    "pseudonymise",
    "resolve",
    "sla_breach",
    "staff_reply",
]

SYSTEM = "system"
LOW_CSAT = 2  # a rating at or below this reopens the ticket with the supervisor
NOTIFY_EXCERPT = 200
TICKET_LINK = "/pages/tickets/detail?id={ticket_id}"


@dataclass
class Change:
    """Everything one operation writes, atomically."""

    before: Ticket | None
    after: Ticket
    messages: list[Message] = field(default_factory=list)
    events: list[EventData] = field(default_factory=list)
    agent_deltas: dict[str, int] = field(default_factory=dict)
    # (dimension key, {counter: delta}) — CSAT, response and resolution times per queue/agent/store.
    stats: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    # Extra conditional puts (keys that must not exist yet, e.g. an external reference).
    guards: list[dict[str, Any]] = field(default_factory=list)
    # (event_id, consumer): the idempotency marker written with the change.
    idempotency: tuple[str, str] | None = None


class TicketRepository(Protocol):
    def get(self, ticket_id: str) -> Ticket | None: ...
    def apply(self, change: Change) -> None: ...  # raises ConditionalCheckFailed


@dataclass(frozen=True)
class AutoAnswer:
    """An automatic first answer to a frequently asked question."""

    intent: str
    body: str
    article_id: str | None = None


@dataclass(frozen=True)
class OpenRequest:
    ticket_id: str
    member_id: str | None
    channel: Literal["mini_program", "phone", "counter", "email", "social", "journey", "staff"]
    opened_by: str
    subject: str
    text: str
    category: str | None = None
    store_id: str | None = None
    tenant_id: str | None = None
    purchase_ref: str | None = None
    coupon_ref: str | None = None
    attachments: tuple[str, ...] = ()
    kind: Literal["service", "retention_call"] = "service"
    priority: str | None = None  # set by the system for journeys; members cannot choose it


def mutate(
    repo: TicketRepository, ticket_id: str, operation: Callable[[Ticket], Change | None], attempts: int = 3
) -> Change | None:
    """Read, decide, write under the version read; re-read and decide again on a lost race."""
    for _ in range(attempts):
        ticket = repo.get(ticket_id)
        if ticket is None or ticket.erased:
            raise TicketNotFound()
        change = operation(ticket)
        if change is None:
            return None
        try:
            repo.apply(change)
        except ConditionalCheckFailed as exc:
            if change.idempotency is not None and _marker_failed(change, exc):
                return None  # this event was applied already
            continue
        return change
    raise TicketChanged()


def _marker_failed(change: Change, exc: ConditionalCheckFailed) -> bool:
    # The repository puts the idempotency marker first in the transaction.
    return 0 in exc.failed_indexes


def _bump(ticket: Ticket, now: datetime, **changes: Any) -> Ticket:
    return ticket.model_copy(update={**changes, "version": ticket.version + 1, "updated_at": now})


def _message(  # noqa: PLR0917 - a private constructor, positional at every call
    ticket_id: str,
    message_id: str,
    kind: Literal["member", "staff", "system"],
    author: str,
    body: str,
    now: datetime,
    *,
    internal: bool = False,
    attachments: Sequence[str] = (),
) -> Message:
    return Message(
        message_id=message_id,
        ticket_id=ticket_id,
        author_kind=kind,
        author_id=author,
        visibility="internal" if internal else "public",
        body=body,
        attachments=list(attachments),
        created_at=now,
    )


def _system_note(ticket_id: str, message_id: str, body: str, now: datetime) -> Message:
    """An internal note the system leaves for staff (the member does not see it)."""
    return _message(ticket_id, message_id, "system", SYSTEM, body, now, internal=True)


def _notify(  # noqa: PLR0917 - a private constructor, positional at every call
    ticket: Ticket, notification_id: str, topic: str, title: str, body: str, now: datetime
) -> list[EventData]:
    from shared.events.contracts import NotificationRequested  # noqa: PLC0415 - cold start

    if not ticket.member_id or ticket.erased:
        return []
    excerpt = body if len(body) <= NOTIFY_EXCERPT else body[: NOTIFY_EXCERPT - 1] + "…"
    return [
        NotificationRequested(
            notification_id=notification_id,
            member_id=ticket.member_id,
            topic=topic,  # type: ignore[arg-type]  # callers pass one of the contract's topics
            title=title,
            body=excerpt,
            link=TICKET_LINK.format(ticket_id=ticket.ticket_id),
            requested_at=now,
            ticket_id=ticket.ticket_id,
        )
    ]


def _assigned(ticket: Ticket, by: str, now: datetime) -> TicketAssigned:
    from shared.events.contracts import TicketAssigned  # noqa: PLC0415 - cold start

    return TicketAssigned(
        ticket_id=ticket.ticket_id,
        member_id=ticket.member_id,
        queue=ticket.queue,
        agent_id=ticket.agent_id,
        assigned_by=by,
        priority=ticket.priority,
        category=ticket.category,
        assigned_at=now,
    )


def _dimensions(ticket: Ticket) -> list[str]:
    keys = [f"QUEUE#{ticket.queue}"]
    if ticket.agent_id:
        keys.append(f"AGENT#{ticket.agent_id}")
    if ticket.store_id:
        keys.append(f"STORE#{ticket.store_id}")
    return keys


def _stats(ticket: Ticket, counters: dict[str, int]) -> list[tuple[str, dict[str, int]]]:
    return [(key, dict(counters)) for key in _dimensions(ticket)]


# --- intake ------------------------------------------------------------------------------------


def _safe_classify(text: str) -> Classification | None:
    from services.tickets.logic.classify import classify  # noqa: PLC0415 - cold start

    try:
        return classify(text)
    except Exception:  # classification must never block intake
        get_logger().exception("classification failed; ticket opened unclassified")
        return None


def open_ticket(
    request: OpenRequest,
    *,
    now: datetime,
    new_id: Callable[[], str],
    rules: Iterable[RoutingRule] = (),
    value_level: str | None = None,
    suggestions: Sequence[str] = (),
    auto_answer: AutoAnswer | None = None,
) -> Change:
    """A new ticket: classified, prioritised, routed, with SLA due times; TicketOpened +
    TicketAssigned (the queue). With an automatic answer, the answer is posted and the member
    asked to accept it or ask for a person (``pending_member``)."""
    from shared.events.contracts import TicketOpened  # noqa: PLC0415 - cold start

    text = f"{request.subject}\n{request.text}"
    result = _safe_classify(text)
    classification: dict[str, Any] = result.as_dict() if result else {"status": "unclassified"}
    if request.category:
        category, source = request.category, "member" if request.opened_by == "member" else "staff"
    elif result:
        category, source = result.category, "auto"
    else:
        category, source = "inquiry", "auto"
    topic = result.topic if result else "other"
    if request.priority:
        priority = request.priority
    else:
        priority = policy.priority_for(
            category,
            sentiment=result.sentiment if result else None,
            angry=result.angry if result else False,
            value_level=value_level,
        )
    queue, why = policy.route(
        category=category,
        topic=topic,
        store_id=request.store_id,
        tenant_id=request.tenant_id,
        channel=request.channel,
        rules=rules,
    )
    classification["routed_by"] = why
    first_due, resolution_due = policy.due_times(priority, now)
    ticket = Ticket(
        ticket_id=request.ticket_id,
        kind=request.kind,
        member_id=request.member_id,
        channel=request.channel,
        opened_by=request.opened_by,
        category=category,  # type: ignore[arg-type]  # validated by the API model / contract
        category_source=source,  # type: ignore[arg-type]
        topic=topic,
        priority=priority,  # type: ignore[arg-type]
        classification=classification,
        subject=request.subject,
        description=request.text,
        store_id=request.store_id,
        tenant_id=request.tenant_id,
        purchase_ref=request.purchase_ref,
        coupon_ref=request.coupon_ref,
        attachments=list(request.attachments),
        queue=queue,
        opened_at=now,
        updated_at=now,
        first_response_due_at=first_due,
        resolution_due_at=resolution_due,
        suggested_articles=list(suggestions),
    )
    author_kind: Literal["member", "staff", "system"] = (
        "member" if request.opened_by == "member" else ("system" if request.opened_by == SYSTEM else "staff")
    )
    messages = [
        _message(
            ticket.ticket_id,
            new_id(),
            author_kind,
            request.opened_by,
            request.text,
            now,
            attachments=request.attachments,
        )
    ]
    events: list[EventData] = []
    if auto_answer is not None and request.member_id:
        ticket = ticket.model_copy(
            update={
                "status": "pending_member",
                "auto_reply": {
                    "intent": auto_answer.intent,
                    "state": "offered",
                    "article_id": auto_answer.article_id,
                },
            }
        )
        messages.append(_message(ticket.ticket_id, new_id(), "system", SYSTEM, auto_answer.body, now))
        events += _notify(ticket, new_id(), "ticket_reply", say("auto_reply_title"), auto_answer.body, now)
    events = [
        TicketOpened(
            ticket_id=ticket.ticket_id,
            member_id=ticket.member_id,
            category=ticket.category,
            channel="staff" if ticket.channel == "social" else ticket.channel,
            priority="high" if ticket.priority == "urgent" else ticket.priority,
            opened_at=now,
            recorded_channel=ticket.channel,
            priority_level=ticket.priority,
            queue=ticket.queue,
            store_id=ticket.store_id,
            sentiment=result.sentiment if result else None,
        ),
        _assigned(ticket, SYSTEM, now),
        *events,
    ]
    return Change(before=None, after=ticket, messages=messages, events=events)


# --- conversation ------------------------------------------------------------------------------


def _owned(ticket: Ticket, member_id: str) -> None:
    if ticket.member_id != member_id or ticket.erased:
        raise TicketNotFound()


def add_member_message(
    ticket: Ticket,
    *,
    member_id: str,
    body: str,
    attachments: Sequence[str],
    now: datetime,
    new_id: Callable[[], str],
    reopen_days: int,
) -> Change:
    """The member writes: a waiting ticket goes back to the agent; a resolved one reopens within
    ``reopen_days`` of its resolution; a closed one (or a resolved one past the window) is final."""
    _owned(ticket, member_id)
    update: dict[str, Any] = {}
    if ticket.status == "closed":
        raise InvalidTransition("ticket_closed", "This ticket is closed; open a new one.")
    if ticket.status == "resolved":
        assert ticket.resolved_at is not None  # resolved tickets carry their time
        if now - ticket.resolved_at > timedelta(days=reopen_days):
            raise InvalidTransition(
                "reopen_window_passed", f"Resolved more than {reopen_days} days ago; open a new ticket."
            )
        if ticket.survey is not None:
            raise InvalidTransition("ticket_closed", "This ticket is closed; open a new one.")
        update = {
            "status": "in_progress",
            "resolved_at": None,
            "resolved_by": None,
            "resolution": None,
            "reopened_count": ticket.reopened_count + 1,
            "resolution_due_at": now + policy.SLA_TARGETS[ticket.priority][1],
        }
    elif ticket.status == "pending_member":
        update = {"status": "in_progress"}
    after = _bump(ticket, now, **update)
    message = _message(ticket.ticket_id, new_id(), "member", "member", body, now, attachments=attachments)
    reopened = ticket.status == "resolved"
    agent_deltas = {ticket.agent_id: 1} if ticket.agent_id and reopened else {}
    # Back in the queue: TicketAssigned says so (and sets the reopened ticket's SLA timers).
    events: list[EventData] = [_assigned(after, SYSTEM, now)] if reopened else []
    return Change(before=ticket, after=after, messages=[message], agent_deltas=agent_deltas, events=events)


def staff_reply(
    ticket: Ticket,
    *,
    agent_id: str,
    body: str,
    internal: bool,
    status_after: Literal["pending_member", "in_progress"],
    attachments: Sequence[str],
    now: datetime,
    new_id: Callable[[], str],
) -> Change:
    """A reply to the member (notified through campaigns) or an internal note (staff only)."""
    if ticket.status == "closed" and not internal:
        raise InvalidTransition("ticket_closed", "This ticket is closed.")
    message = _message(
        ticket.ticket_id, new_id(), "staff", agent_id, body, now, internal=internal, attachments=attachments
    )
    if internal:
        return Change(before=ticket, after=_bump(ticket, now), messages=[message])
    update: dict[str, Any] = {}
    stats: list[tuple[str, dict[str, int]]] = []
    if ticket.first_responded_at is None:
        update["first_responded_at"] = now
        seconds = int((now - ticket.opened_at).total_seconds())
        stats = _stats(ticket, {"first_responses": 1, "first_response_seconds": seconds})
    if ticket.active:
        update["status"] = status_after
    after = _bump(ticket, now, **update)
    events = _notify(after, new_id(), "ticket_reply", say("reply_title"), body, now)
    return Change(before=ticket, after=after, messages=[message], events=events, stats=stats)


def resolve(
    ticket: Ticket,
    *,
    by: str,
    resolution: Literal["resolved", "auto_replied", "duplicate", "no_response", "rejected"],
    note: str | None,
    now: datetime,
    new_id: Callable[[], str],
) -> Change:
    from shared.events.contracts import TicketResolved  # noqa: PLC0415 - cold start

    if not ticket.active:
        raise InvalidTransition("invalid_status", f"A {ticket.status} ticket cannot be resolved.")
    after = _bump(ticket, now, status="resolved", resolved_at=now, resolved_by=by, resolution=resolution)
    messages = (
        [_message(ticket.ticket_id, new_id(), "system" if by == SYSTEM else "staff", by, note, now)]
        if note
        else []
    )
    seconds = int((now - ticket.opened_at).total_seconds())
    events: list[EventData] = [
        TicketResolved(
            ticket_id=ticket.ticket_id,
            member_id=ticket.member_id,
            category=ticket.category,
            resolution=resolution,
            sla_breached=bool(ticket.sla_breaches),
            resolved_by=by,
            opened_at=ticket.opened_at,
            resolved_at=now,
        )
    ]
    events += _notify(after, new_id(), "survey_request", say("resolved_title"), say("resolved_body"), now)
    return Change(
        before=ticket,
        after=after,
        messages=messages,
        events=events,
        agent_deltas={ticket.agent_id: -1} if ticket.agent_id else {},
        stats=_stats(ticket, {"resolutions": 1, "resolution_seconds": seconds}),
    )


def decide_auto_reply(
    ticket: Ticket,
    *,
    member_id: str,
    action: Literal["accept", "escalate"],
    now: datetime,
    new_id: Callable[[], str],
) -> Change:
    """The member accepts the automatic answer (resolved) or asks for a person (back to the queue)."""
    _owned(ticket, member_id)
    offer = ticket.auto_reply or {}
    if offer.get("state") != "offered" or ticket.status != "pending_member":
        raise InvalidTransition("no_auto_reply", "This ticket has no automatic answer waiting for you.")
    decided = {
        **offer,
        "state": "accepted" if action == "accept" else "escalated",
        "decided_at": clock.to_utc_iso(now),
    }
    if action == "accept":
        change = resolve(
            ticket.model_copy(update={"auto_reply": decided}),
            by=SYSTEM,
            resolution="auto_replied",
            note=None,
            now=now,
            new_id=new_id,
        )
        change.before = ticket
        return change
    after = _bump(ticket, now, status="open", auto_reply=decided)
    note = _system_note(ticket.ticket_id, new_id(), say("escalated_note"), now)
    return Change(before=ticket, after=after, messages=[note])


# --- staff work -----------------------------------------------------------------------------------


def assign(
    ticket: Ticket,
    *,
    agent_id: str | None,
    queue: str | None,
    by: str,
    agents: Sequence[Agent],
    now: datetime,
) -> Change:
    """Assign to a named agent, or to the least-loaded active agent of the (new) queue."""
    if not ticket.active:
        raise InvalidTransition("invalid_status", f"A {ticket.status} ticket cannot be assigned.")
    target_queue = queue or ticket.queue
    if agent_id is not None:
        chosen = next((a for a in agents if a.agent_id == agent_id and a.active), None)
        if chosen is None:
            raise AgentNotFound()
    else:
        candidates = [a for a in agents if a.active and target_queue in a.queues]
        if not candidates:
            raise NoAgentAvailable()
        chosen = min(candidates, key=lambda a: (a.open_count, a.agent_id))
    deltas: dict[str, int] = {}
    if ticket.agent_id != chosen.agent_id:
        if ticket.agent_id:
            deltas[ticket.agent_id] = -1
        deltas[chosen.agent_id] = 1
    after = _bump(ticket, now, agent_id=chosen.agent_id, queue=target_queue)
    return Change(before=ticket, after=after, events=[_assigned(after, by, now)], agent_deltas=deltas)


def override(
    ticket: Ticket,
    *,
    by: str,
    category: str | None,
    priority: str | None,
    topic: str | None,
    queue: str | None,
    now: datetime,
) -> Change:
    """Staff corrects the classification, priority or queue; the override is kept (a later
    automatic step never changes a field staff set) and the suggestion stays for comparison."""
    update: dict[str, Any] = {}
    # Confirming the suggestion counts too: the value becomes staff's, which nothing automatic changes.
    if category and (category != ticket.category or ticket.category_source != "staff"):
        update |= {"category": category, "category_source": "staff"}
    if topic and topic != ticket.topic:
        update["topic"] = topic
    if priority and (priority != ticket.priority or ticket.priority_source != "staff"):
        update |= {"priority": priority, "priority_source": "staff"}
        update |= _due_times_for(ticket, priority)
    if queue and queue != ticket.queue:
        update["queue"] = queue
    if not update:
        raise Unprocessable("nothing_to_change", "Name at least one field that differs from the ticket's.")
    overrides = list(ticket.classification.get("overrides", []))
    overrides.append({"by": by, "at": clock.to_utc_iso(now), "fields": sorted(update)})
    update["classification"] = {**ticket.classification, "overrides": overrides}
    after = _bump(ticket, now, **update)
    # TicketAssigned also when a due time moved: it is what sets the SLA timers at the ticket's
    # current due times (an earlier one needs a new timer; a later one is rescheduled by the check).
    moved = {"first_response_due_at", "resolution_due_at"} & update.keys()
    events: list[EventData] = [_assigned(after, by, now)] if "queue" in update or moved else []
    return Change(before=ticket, after=after, events=events)


def _due_times_for(ticket: Ticket, priority: str) -> dict[str, datetime]:
    """The SLA due times under ``priority``: each target not yet met or breached moves by the
    difference between the two priorities' targets — the same start (the opening, or the reopening
    for the resolution), the new priority's allowance. A met or breached target keeps its time."""
    old_first, old_resolution = policy.SLA_TARGETS[ticket.priority]
    new_first, new_resolution = policy.SLA_TARGETS[priority]
    moved: dict[str, datetime] = {}
    if ticket.first_responded_at is None and "first_response" not in ticket.sla_breaches:
        due = ticket.first_response_due_at - old_first + new_first
        if due != ticket.first_response_due_at:
            moved["first_response_due_at"] = due
    if ticket.active and "resolution" not in ticket.sla_breaches:
        due = ticket.resolution_due_at - old_resolution + new_resolution
        if due != ticket.resolution_due_at:
            moved["resolution_due_at"] = due
    return moved


def propose_points(
    ticket: Ticket,
    *,
    agent_id: str,
    points: int,
    reason: str,
    request_id: str,
    now: datetime,
    new_id: Callable[[], str],
) -> Change:
    """PointsAdjustmentRequested: loyalty creates a pending adjustment a second person approves."""
    from shared.events.contracts import PointsAdjustmentRequested  # noqa: PLC0415 - cold start

    if not ticket.member_id:
        raise Unprocessable("no_member", "This ticket is not linked to a member.")
    if points == 0:
        raise Unprocessable("invalid_points", "Points must not be zero.")
    request = {
        "request_id": request_id,
        "points": points,
        "reason": reason,
        "requested_by": agent_id,
        "requested_at": clock.to_utc_iso(now),
        "status": "pending_approval",
    }
    after = _bump(ticket, now, points_requests=[*ticket.points_requests, request])
    note = _message(
        ticket.ticket_id,
        new_id(),
        "staff",
        agent_id,
        say("points_proposed_note", points=points, reason=reason),
        now,
        internal=True,
    )
    event = PointsAdjustmentRequested(
        request_id=request_id,
        member_id=ticket.member_id,
        points=points,
        reason=f"{ticket.category}: {reason}"[:200],
        ticket_id=ticket.ticket_id,
        requested_by=agent_id,
        requested_at=now,
    )
    return Change(before=ticket, after=after, messages=[note], events=[event])


def _settle_pending_request(
    ticket: Ticket, points: int, outcome: dict[str, Any]
) -> tuple[list[dict[str, Any]], bool]:
    """The ticket's points requests, the first one pending for these points updated with loyalty's
    ``outcome`` (loyalty names the ticket, not our request); and whether one was pending."""
    requests = [dict(r) for r in ticket.points_requests]
    for request in requests:
        if request.get("status") == "pending_approval" and request.get("points") == points:
            request.update(outcome)
            return requests, True
    return requests, False


def note_points_adjusted(
    ticket: Ticket,
    *,
    adjustment_id: str,
    points: int,
    approved_by: str,
    balance_after: int,
    now: datetime,
    new_id: Callable[[], str],
    event_id: str,
    consumer: str,
) -> Change:
    """Loyalty applied an adjustment for this ticket: noted on the request and the ticket, and
    the member told."""
    requests, settled = _settle_pending_request(
        ticket, points, {"status": "applied", "adjustment_id": adjustment_id, "approved_by": approved_by}
    )
    if not settled:
        requests.append({"adjustment_id": adjustment_id, "points": points, "status": "applied"})
    after = _bump(ticket, now, points_requests=requests)
    note = _system_note(
        ticket.ticket_id,
        new_id(),
        say("points_applied_note", points=points, approved_by=approved_by, balance_after=balance_after),
        now,
    )
    public = say("points_applied_public", points=points)
    reply = _message(ticket.ticket_id, new_id(), "system", SYSTEM, public, now)
    events = _notify(after, new_id(), "ticket_status", say("points_applied_title"), public, now)
    return Change(
        before=ticket,
        after=after,
        messages=[note, reply],
        events=events,
        idempotency=(event_id, consumer),
    )


def note_points_rejected(
    ticket: Ticket,
    *,
    adjustment_id: str,
    points: int,
    rejected_by: str,
    rejection_reason: str,
    now: datetime,
    new_id: Callable[[], str],
    event_id: str,
    consumer: str,
) -> Change:
    """Loyalty's reviewer rejected the proposal: noted for the agent (internal), who answers the
    member in their own words."""
    requests, _settled = _settle_pending_request(
        ticket, points, {"status": "rejected", "adjustment_id": adjustment_id, "rejected_by": rejected_by}
    )
    after = _bump(ticket, now, points_requests=requests)
    note = _system_note(
        ticket.ticket_id,
        new_id(),
        say("points_rejected_note", points=points, rejected_by=rejected_by, reason=rejection_reason),
        now,
    )
    return Change(before=ticket, after=after, messages=[note], idempotency=(event_id, consumer))


# --- SLA ------------------------------------------------------------------------------------------


def sla_breach(
    ticket: Ticket,
    *,
    target: Literal["first_response", "resolution"],
    now: datetime,
    new_id: Callable[[], str],
) -> Change | None:
    """The timer fired: None when the target was met (or the breach recorded already), else the
    escalation — priority one up, supervisor queue, TicketSlaBreached and TicketAssigned."""
    from shared.events.contracts import TicketSlaBreached  # noqa: PLC0415 - cold start

    met = ticket.first_responded_at is not None if target == "first_response" else not ticket.active
    due = ticket.first_response_due_at if target == "first_response" else ticket.resolution_due_at
    if met or target in ticket.sla_breaches or ticket.erased or now < due:
        return None
    if ticket.status == "pending_member" and target == "resolution":
        return None  # waiting on the member: the clock is theirs
    priority = policy.escalate(ticket.priority)
    after = _bump(
        ticket,
        now,
        priority=priority,
        priority_source="sla",
        queue=policy.SUPERVISOR_QUEUE,
        sla_breaches=[*ticket.sla_breaches, target],
    )
    label = say("sla_first_response" if target == "first_response" else "sla_resolution")
    note = _system_note(
        ticket.ticket_id,
        new_id(),
        say("sla_breached_note", label=label, previous=ticket.priority, priority=priority),
        now,
    )
    events: list[EventData] = [
        TicketSlaBreached(
            ticket_id=ticket.ticket_id,
            member_id=ticket.member_id,
            target=target,
            due_at=due,
            breached_at=now,
            previous_priority=ticket.priority,
            priority=priority,
            queue=after.queue,
            previous_queue=ticket.queue,
            category=ticket.category,
        ),
        _assigned(after, SYSTEM, now),
    ]
    return Change(
        before=ticket,
        after=after,
        messages=[note],
        events=events,
        stats=_stats(ticket, {f"breaches_{target}": 1}),
    )


def auto_close(ticket: Ticket, *, now: datetime, reopen_days: int) -> Change | None:
    """A resolved ticket nobody rated or reopened is closed once the reopen window has passed."""
    if ticket.status != "resolved" or ticket.resolved_at is None:
        return None
    if now < ticket.resolved_at + timedelta(days=reopen_days):
        return None
    return Change(before=ticket, after=_bump(ticket, now, status="closed", closed_at=now))


# --- satisfaction ---------------------------------------------------------------------------------


def answer_survey(
    ticket: Ticket,
    *,
    member_id: str,
    survey_id: str,
    csat: int,
    comment: str | None,
    now: datetime,
    new_id: Callable[[], str],
) -> Change:
    """Once per ticket, on a resolved ticket. 3-5 closes it; 1-2 reopens it with the supervisor."""
    from shared.events.contracts import SurveyAnswered  # noqa: PLC0415 - cold start

    _owned(ticket, member_id)
    if ticket.survey is not None:
        raise SurveyAlreadyAnswered()
    if ticket.status != "resolved":
        raise TicketNotResolved()
    survey = {"survey_id": survey_id, "csat": csat, "comment": comment, "answered_at": clock.to_utc_iso(now)}
    low = csat <= LOW_CSAT
    stats = _stats(ticket, {"surveys": 1, "csat_sum": csat, "low_csat": 1 if low else 0})
    events: list[EventData] = [
        SurveyAnswered(
            survey_id=survey_id,
            ticket_id=ticket.ticket_id,
            member_id=ticket.member_id,
            csat=csat,
            answered_at=now,
        )
    ]
    messages: list[Message] = []
    deltas: dict[str, int] = {}
    if low:
        after = _bump(
            ticket,
            now,
            survey=survey,
            low_csat=True,
            status="in_progress",
            queue=policy.SUPERVISOR_QUEUE,
            reopened_count=ticket.reopened_count + 1,
            resolution_due_at=now + policy.SLA_TARGETS[ticket.priority][1],
        )
        messages.append(_system_note(ticket.ticket_id, new_id(), say("low_csat_note", csat=csat), now))
        events.append(_assigned(after, SYSTEM, now))
        if ticket.agent_id:
            deltas[ticket.agent_id] = 1
    else:
        after = _bump(ticket, now, survey=survey, status="closed", closed_at=now)
    return Change(
        before=ticket, after=after, messages=messages, events=events, stats=stats, agent_deltas=deltas
    )


# --- erasure --------------------------------------------------------------------------------------


def pseudonymise(
    ticket: Ticket,
    messages: Sequence[Message],
    *,
    pseudonym: str,
    now: datetime,
    names: Iterable[str] = (),
) -> tuple[Ticket, list[Message]]:
    """The erased member's ticket without them: the member id replaced by a pseudonym that cannot
    be traced back, personal data scrubbed from every text — with ``names``, the name forms the
    member gave in any of their tickets (:func:`member_names`) — attachments and survey comment
    dropped. What happened (category, times, SLA, CSAT score) stays for the service statistics."""
    from services.tickets.logic.text import scrub_pii  # noqa: PLC0415 - cold start

    known = tuple(names)
    survey = dict(ticket.survey) if ticket.survey else None
    if survey is not None:
        survey["comment"] = None
    after = _bump(
        ticket,
        now,
        member_id=None,
        member_pseudonym=pseudonym,
        subject=scrub_pii(ticket.subject, known),
        description=scrub_pii(ticket.description, known),
        attachments=[],
        survey=survey,
        purchase_ref=None,
        coupon_ref=None,
        erased=True,
    )
    scrubbed = [m.model_copy(update={"body": scrub_pii(m.body, known), "attachments": []}) for m in messages]
    return after, scrubbed


def member_names(conversations: Iterable[tuple[Ticket, Sequence[Message]]]) -> set[str]:
    """The names a member stated of themselves anywhere in their tickets (subject, description,
    every message — a staff reply quoting "您说您叫王小明" counts too). Erasure removes each of them
    from every text of every one of the member's tickets, not only where a cue precedes it.
    Learned from the tickets themselves at erasure time: tickets keep no name of the member."""
    from services.tickets.logic.text import name_forms  # noqa: PLC0415 - cold start

    texts: list[str] = []
    for ticket, messages in conversations:
        if ticket.erased:
            continue  # already scrubbed: nothing left to learn
        texts += [ticket.subject, ticket.description, *(m.body for m in messages)]
    return name_forms(texts)
