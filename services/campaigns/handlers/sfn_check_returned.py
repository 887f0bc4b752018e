"""CampaignsJourneyCheckReturnedFunction: ChurnWarning task CheckReturned."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.projection import DynamoLastPurchaseRepository
from services.campaigns.logic.churn_warning import check_returned
from services.campaigns.models.settings import CampaignsSettings
from services.campaigns.models.tasks import CheckReturnedInput
from shared import clock
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
    task = CheckReturnedInput.model_validate(event)
    repo = DynamoLastPurchaseRepository(load(CampaignsSettings).table_name)
    check = check_returned(task.member_id, task.started_at, repo)
    logger.info("return checked", extra={"episode_id": task.episode_id, "returned": check.returned})
    return {
        "returned": check.returned,
        "last_purchase_at": clock.to_utc_iso(check.last_purchase_at) if check.last_purchase_at else None,
    }
