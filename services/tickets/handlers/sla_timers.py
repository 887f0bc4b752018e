"""TicketsSlaTimersFunction: the ticket's own events (rule → queue → here) → its timers, as
one-time Scheduler schedules:

* ``TicketOpened`` and ``TicketAssigned`` (reopened, escalated, reassigned) → the first-response
  timer (until answered) and the resolution timer, at the ticket's current due times;
* ``TicketResolved`` → the close timer, when the reopen window ends.

Driven by events rather than by the API call, so a ticket whose timers could not be created is
retried by SQS (and ends in the DLQ), never silently left without an SLA. A timer's name carries
its due time: the same timer twice is a harmless ConflictException, a moved due time a new timer
(the old one finds nothing to do when it fires).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.tickets.dal.adapters import SchedulerSlaTimers
from services.tickets.dal.tickets import DynamoTicketsRepository
from services.tickets.models.settings import TicketsSlaSettings
from shared.consumer import process_event_batch, typed
from shared.events.contracts import TicketAssigned, TicketOpened, TicketResolved
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "tickets"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(TicketsSlaSettings)
    repo = DynamoTicketsRepository(settings.table_name)
    timers = SchedulerSlaTimers.from_settings(settings)

    def created(was_new: bool) -> None:
        if was_new:
            metrics.add_metric(name="SlaTimersCreated", unit="Count", value=1)

    def sla_timers(ticket_id: str) -> None:
        ticket = repo.get(ticket_id)
        if ticket is None or not ticket.active:
            return  # gone or already finished (an automatic answer accepted at once)
        if ticket.first_responded_at is None and "first_response" not in ticket.sla_breaches:
            created(timers.schedule(ticket.ticket_id, "first_response", ticket.first_response_due_at))
        if "resolution" not in ticket.sla_breaches:
            created(timers.schedule(ticket.ticket_id, "resolution", ticket.resolution_due_at))

    def on_opened(metadata: EventMetadata, data: TicketOpened) -> None:
        sla_timers(data.ticket_id)

    def on_assigned(metadata: EventMetadata, data: TicketAssigned) -> None:
        sla_timers(data.ticket_id)

    def on_resolved(metadata: EventMetadata, data: TicketResolved) -> None:
        ticket = repo.get(data.ticket_id)
        if ticket is None or ticket.status != "resolved" or ticket.resolved_at is None:
            return
        created(
            timers.schedule(
                ticket.ticket_id, "close", ticket.resolved_at + timedelta(days=settings.reopen_days)
            )
        )

    return process_event_batch(
        event,
        context,
        routes={
            "TicketOpened": typed(TicketOpened, on_opened),
            "TicketAssigned": typed(TicketAssigned, on_assigned),
            "TicketResolved": typed(TicketResolved, on_resolved),
        },
    )
