"""CampaignsDispatchDueFunction: a one-time EventBridge Scheduler schedule fires at a minute that
holds deferred sends (``{"bucket": <UTC minute>}``) → every due SendRequest of that minute goes
back to ``CampaignsDispatchQueue`` and its due item is deleted. A bucket too big for one run
continues under a follow-up schedule a minute later (same bucket)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.campaigns.dal.dispatch import DueIndex, SchedulerWaker
from services.campaigns.models.settings import DispatchSettings
from shared import clock
from shared.observability import get_logger, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
_RESERVE_MS = 30_000


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(DispatchSettings)
    bucket = clock.to_utc_iso(clock.parse_iso(str(event["bucket"])))

    def keep_going() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or remaining() > _RESERVE_MS

    released, finished = DueIndex(settings.table_name, settings.dispatch_queue_url).release(
        bucket, keep_going=keep_going
    )
    if not finished:
        follow_up = clock.now() + timedelta(minutes=1)
        SchedulerWaker(
            settings.due_function_arn,
            settings.scheduler_role_arn,
            settings.schedule_group,
            settings.due_dlq_arn,
            table_name=settings.table_name,
        ).ensure(follow_up, suffix=f"-more-{clock.epoch_seconds(follow_up)}", bucket=bucket)
    logger.info("due bucket released", extra={"bucket": bucket, "released": released, "finished": finished})
    return {"bucket": bucket, "released": released, "finished": finished}
