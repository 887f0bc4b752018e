"""LoyaltyOnMemberVehiclesFunction: members' MemberVehiclesChanged (rule → queue → here) → the
plate → member projection parking uses for tier free hours (newest ``changed_at`` wins, so a
redelivered or late event changes nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.dal.vehicles import apply_vehicles
from services.loyalty.models.settings import LoyaltySettings
from shared.consumer import process_event_batch, typed
from shared.events.contracts import MemberVehiclesChanged
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "loyalty"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(LoyaltySettings)

    def on_vehicles(metadata: EventMetadata, data: MemberVehiclesChanged) -> None:
        changed = apply_vehicles(
            settings.table_name, data.member_id, data.linked, data.unlinked, data.changed_at
        )
        logger.info("vehicle projection updated", extra={"changed": changed})
        metrics.add_metric(name="VehicleProjectionChanged", unit="Count", value=changed)

    return process_event_batch(
        event, context, routes={"MemberVehiclesChanged": typed(MemberVehiclesChanged, on_vehicles)}
    )
