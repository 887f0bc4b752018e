"""The staff ticket list's filters (pure): which statuses a ``status`` filter means, query
parameters the list does not know, and one member's tickets as the list shows them.

Kept apart from logic/tickets.py so that the list (a read) does not import the classifier and the
event contracts (cold start)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from services.tickets.logic.policy import priority_rank
from services.tickets.models.entities import ACTIVE_STATUSES, Ticket

__all__ = ["ALL_STATUSES", "member_list", "statuses_for", "unknown_parameters"]

ALL_STATUSES: tuple[str, ...] = ("open", "pending_member", "in_progress", "resolved", "closed")


def statuses_for(status: str) -> list[str]:
    """``active`` → the three working statuses; ``all`` → every status; else that one."""
    if status == "active":
        return list(ACTIVE_STATUSES)
    if status == "all":
        return list(ALL_STATUSES)
    return [status]


def unknown_parameters(given: Iterable[str], known: Iterable[str]) -> list[dict[str, str]]:
    """One validation field per query parameter the route does not know (sorted): a filter the
    list would ignore must not look as if it had been applied."""
    allowed = set(known)
    return [
        {"field": f"query.{name}", "message": "Unknown query parameter."}
        for name in sorted(set(given) - allowed)
    ]


def _working_order(ticket: Ticket) -> tuple[int, datetime, str]:
    due = ticket.first_response_due_at if ticket.first_responded_at is None else ticket.resolution_due_at
    return priority_rank(ticket.priority), due, ticket.ticket_id


def member_list(
    tickets: Sequence[Ticket], *, statuses: Sequence[str], queue: str | None, limit: int
) -> tuple[list[Ticket], dict[str, dict[str, int]]]:
    """One member's tickets as the staff list shows them: those in ``statuses`` (and ``queue``) in
    the queue view's working order (priority, next due time, id), at most ``limit``; and the
    member's own ``{queue: {status: n}}`` over all their tickets (of ``queue``), not the desk's."""
    mine = [t for t in tickets if queue is None or t.queue == queue]
    counts: dict[str, dict[str, int]] = {}
    for ticket in mine:
        by_status = counts.setdefault(ticket.queue, {})
        by_status[ticket.status] = by_status.get(ticket.status, 0) + 1
    wanted = set(statuses)
    shown = sorted((t for t in mine if t.status in wanted), key=_working_order)
    return shown[:limit], counts
