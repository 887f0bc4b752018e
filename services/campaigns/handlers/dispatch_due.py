"""CampaignsDispatchDueFunction: a one-time EventBridge Scheduler schedule fires at a minute that
holds deferred sends (``{"bucket": <UTC minute>, "shard": <0..7>}``: one schedule per due-index
shard, so a minute's shards are released by parallel invocations) → every due SendRequest of that
shard goes back to ``CampaignsDispatchQueue`` and its due item is deleted. A shard too big for one
run continues under a follow-up schedule a minute later (same bucket and shard). An input without
``shard`` (a schedule created before the shards had their own) releases every shard in turn."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.campaigns.dal.dispatch import DUE_SHARDS, DueIndex, SchedulerWaker
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


def _shard(event: dict[str, Any]) -> int | None:
    raw = event.get("shard")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < DUE_SHARDS:
        raise ValueError(f"shard must be an integer 0..{DUE_SHARDS - 1}, got {raw!r}")
    return raw


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(DispatchSettings)
    bucket = clock.to_utc_iso(clock.parse_iso(str(event["bucket"])))
    shard = _shard(event)

    def keep_going() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or remaining() > _RESERVE_MS

    released, finished = DueIndex(settings.table_name, settings.dispatch_queue_url).release(
        bucket, shard=shard, keep_going=keep_going
    )
    if not finished:
        follow_up = clock.now() + timedelta(minutes=1)
        SchedulerWaker(
            settings.due_function_arn,
            settings.scheduler_role_arn,
            settings.schedule_group,
            settings.due_dlq_arn,
            table_name=settings.table_name,
        ).ensure(follow_up, suffix=f"-more-{clock.epoch_seconds(follow_up)}", bucket=bucket, shard=shard)
    logger.info(
        "due bucket released",
        extra={"bucket": bucket, "shard": shard, "released": released, "finished": finished},
    )
    return {"bucket": bucket, "shard": shard, "released": released, "finished": finished}
