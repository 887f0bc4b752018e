"""CampaignsOnProfileScoredFunction: MemberProfileScored with churn_risk high (rule → queue → here)
→ one ChurnWarning episode per member at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.dal.executions import StepFunctionsStarter
from services.campaigns.logic.churn_warning import start_episode
from services.campaigns.models.settings import ChurnWarningStarterSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import MemberProfileScored
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(ChurnWarningStarterSettings)
    repo = DynamoEpisodeRepository(settings.table_name)
    starter = StepFunctionsStarter(settings.state_machine_arn)

    def on_scored(metadata: EventMetadata, data: MemberProfileScored) -> None:
        result = start_episode(
            metadata.event_id,
            data,
            repo,
            starter,
            now=clock.now(),
            observe_seconds=settings.churn_observe_seconds,
        )
        logger.info("churn warning", extra={"member_id": data.member_id, "result": result.value})
        metrics.add_metric(name=f"ChurnWarning{result.name.title().replace('_', '')}", unit="Count", value=1)

    return process_event_batch(
        event, context, routes={"MemberProfileScored": typed(MemberProfileScored, on_scored)}
    )
