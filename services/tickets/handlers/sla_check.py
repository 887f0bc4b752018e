"""TicketsSlaCheckFunction: a ticket's timer fired (EventBridge Scheduler, asynchronous invoke
with ``{"ticket_id", "target", "due_at"}``). SLA targets: met, already breached or finished →
nothing; missed → escalation (TicketSlaBreached, priority up, supervisor queue); a due time that
moved later is scheduled again. ``close``: a resolved ticket whose reopen window passed is closed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.tickets.dal.adapters import SchedulerSlaTimers, SlaTimers
from services.tickets.dal.tickets import DynamoTicketsRepository
from services.tickets.logic.errors import TicketNotFound
from services.tickets.logic.tickets import auto_close, mutate, sla_breach
from services.tickets.models.settings import TicketsSlaSettings
from shared import clock
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "tickets"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)
TARGETS = ("first_response", "resolution", "close")


def check(
    repo: DynamoTicketsRepository,
    timers: SlaTimers,
    *,
    ticket_id: str,
    target: str,
    now: datetime,
    reopen_days: int,
) -> str:
    """What the timer found: ``breached``, ``met``, ``rescheduled``, ``closed``, ``not_closed``."""
    if target == "close":
        closed = mutate(repo, ticket_id, lambda t: auto_close(t, now=now, reopen_days=reopen_days))
        return "closed" if closed is not None else "not_closed"
    change = mutate(repo, ticket_id, lambda t: sla_breach(t, target=target, now=now, new_id=new_ulid))  # type: ignore[arg-type]
    if change is not None:
        return "breached"
    ticket = repo.get(ticket_id)
    if ticket is None or not ticket.active or target in ticket.sla_breaches:
        return "met"
    due = ticket.first_response_due_at if target == "first_response" else ticket.resolution_due_at
    answered = target == "first_response" and ticket.first_responded_at is not None
    if due > now and not answered:
        timers.schedule(ticket_id, target, due)
        return "rescheduled"
    return "met"


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(TicketsSlaSettings)
    ticket_id, target = str(event.get("ticket_id", "")), str(event.get("target", ""))
    if not ticket_id or target not in TARGETS:
        logger.error("malformed timer input", extra={"keys": sorted(event)})
        return {"outcome": "ignored"}
    timers = SchedulerSlaTimers.from_settings(settings)
    repo = DynamoTicketsRepository(settings.table_name)
    try:
        outcome = check(
            repo,
            timers,
            ticket_id=ticket_id,
            target=target,
            now=clock.now(),
            reopen_days=settings.reopen_days,
        )
    except TicketNotFound:
        outcome = "ticket_gone"
    if outcome == "breached":
        metrics.add_metric(name="SlaBreached", unit="Count", value=1)
        logger.info("SLA breached", extra={"ticket_id": ticket_id, "target": target})
    return {"outcome": outcome}
