"""MembersOnActivityFunction: ParkingSessionSettled (loyalty), TicketResolved and SurveyAnswered
(tickets) — two rules → one queue → here — into the member's behaviour statistics, exactly once
per event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.members.dal.profiles import ACTIVITY_CONSUMER, DynamoStatsRepository
from services.members.logic.behaviour import Applied, record_parking, record_survey, record_ticket_resolved
from services.members.models.settings import MembersSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import ParkingSessionSettled, SurveyAnswered, TicketResolved
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "members"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(MembersSettings)
    repo = DynamoStatsRepository(settings.table_name, consumer=ACTIVITY_CONSUMER)
    tz = clock.zone(settings.mall_timezone)

    def outcome(kind: str, result: Applied) -> None:
        metrics.add_metric(name=f"{kind}Stats{result.name.title().replace('_', '')}", unit="Count", value=1)

    def on_parking(metadata: EventMetadata, data: ParkingSessionSettled) -> None:
        outcome("Parking", record_parking(metadata.event_id, data, repo, tz))

    def on_ticket(metadata: EventMetadata, data: TicketResolved) -> None:
        outcome("Ticket", record_ticket_resolved(metadata.event_id, data, repo))

    def on_survey(metadata: EventMetadata, data: SurveyAnswered) -> None:
        outcome("Survey", record_survey(metadata.event_id, data, repo))

    return process_event_batch(
        event,
        context,
        routes={
            "ParkingSessionSettled": typed(ParkingSessionSettled, on_parking),
            "TicketResolved": typed(TicketResolved, on_ticket),
            "SurveyAnswered": typed(SurveyAnswered, on_survey),
        },
    )
