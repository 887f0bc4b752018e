"""CampaignsJourneyRecordOutcomeFunction: ChurnWarning tasks RecordReturned, RecordDormant and
RecordFailure (one function, the outcome comes in the payload)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.logic.churn_warning import record_outcome
from services.campaigns.models.settings import CampaignsSettings
from services.campaigns.models.tasks import RecordOutcomeInput
from shared import clock
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = RecordOutcomeInput.model_validate(event)
    repo = DynamoEpisodeRepository(load(CampaignsSettings).table_name)
    episode = record_outcome(
        task.episode_id,
        task.outcome,
        repo,
        now=clock.now(),
        last_purchase_at=task.last_purchase_at,
        error=task.error,
    )
    logger.info("episode ended", extra={"episode_id": episode.episode_id, "outcome": episode.outcome})
    metrics.add_metric(
        name=f"ChurnWarningOutcome{task.outcome.title().replace('_', '')}", unit="Count", value=1
    )
    return {"episode_id": episode.episode_id, "status": episode.status, "outcome": episode.outcome}
