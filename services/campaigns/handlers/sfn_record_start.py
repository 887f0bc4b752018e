"""CampaignsJourneyRecordStartFunction: ChurnWarning task RecordStart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.logic.churn_warning import record_start
from services.campaigns.models.settings import CampaignsSettings
from services.campaigns.models.tasks import RecordStartInput
from shared.observability import get_logger, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = RecordStartInput.model_validate(event)
    repo = DynamoEpisodeRepository(load(CampaignsSettings).table_name)
    status = record_start(task.episode_id, task.execution_id, repo)
    logger.info("episode observing", extra={"episode_id": task.episode_id})
    return {"episode_id": task.episode_id, "status": status}
