"""CampaignsLaunchFunction: launch jobs from ``CampaignsLaunchQueue`` (the launch API and the
campaigns' one-time schedules put them there): audience → arms → SendRequests (logic/launch.py).

A job that runs short of time (2 minutes left) saves its cursor and queues its own continuation.
The launch is paced (planning-time guardrails, ``LaunchPace``): nothing is queued in the mall's
quiet hours, and at most the campaign rate's minute share per run; the continuation is a one-time
schedule onto the launch queue.
Members erased since the snapshot are left out of the buckets and the requests, and a member
erased while the launch runs is taken out of its buckets (logic/recent_erasures.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.campaigns.dal.planning import DynamoCampaignRepository
from services.campaigns.dal.planning_adapters import EventBridgeLaunchScheduler, PacedLaunchQueue, SqsDispatch
from services.campaigns.dal.recent_erasures import DynamoLaunchErasures, recent_erasures
from services.campaigns.dal.snapshots import DynamoRowSource, S3SnapshotStore
from services.campaigns.logic.guardrails import QuietHours
from services.campaigns.logic.launch import LaunchJob, LaunchPace, launch_job
from services.campaigns.logic.recent_erasures import SkipErasedDispatch, SkipErasedStore
from services.campaigns.logic.snapshots import (
    Audience,
    Manifest,
    current_audience,
    load_audience,
    materialise,
)
from services.campaigns.models.audience import AUDIENCE_SHARDS
from services.campaigns.models.planning import LaunchSettings
from shared import clock
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)
SAFETY_MS = 120_000


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(LaunchSettings)
    repo = DynamoCampaignRepository(settings.table_name)
    store = S3SnapshotStore(settings.snapshot_bucket)
    now = clock.now()

    def audience_for(snapshot_id: str | None) -> Audience:
        if snapshot_id is not None:
            return load_audience(store, Manifest(snapshot_id, now, 0, AUDIENCE_SHARDS))
        audience = current_audience(
            store,
            now,
            settings.snapshot_max_age_hours * 3600,
            lambda: materialise(DynamoRowSource(settings.table_name), store, now),
        )
        assert audience is not None
        return audience

    def keep_going() -> bool:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return remaining is None or int(remaining()) > SAFETY_MS

    erasures = recent_erasures(settings.table_name, settings.pseudonym_key_secret_arn)
    pace = LaunchPace(
        per_minute=settings.campaign_rate_per_minute,
        quiet=QuietHours(settings.quiet_start_hour, settings.quiet_end_hour),
        zone=clock.zone(settings.mall_timezone),
    )
    requeue = PacedLaunchQueue(
        settings.launch_queue_url,
        EventBridgeLaunchScheduler(
            settings.schedule_group, settings.launch_queue_arn, settings.launch_schedule_role_arn
        ),
    )

    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        try:
            body = json.loads(record["body"])
            job = LaunchJob(
                campaign_id=str(body["campaign_id"]),
                cursor=int(body.get("cursor", 0)),
                scheduled=bool(body.get("scheduled", False)),
            )
            progress = launch_job(
                job,
                campaigns=repo,
                store=SkipErasedStore(repo, erasures, DynamoLaunchErasures(settings.table_name)),
                audience_for=audience_for,
                dispatch=SkipErasedDispatch(SqsDispatch(settings.dispatch_queue_url), erasures),
                requeue=requeue,
                now=now,
                control_salt=settings.global_control_salt,
                control_basis_points=settings.global_control_basis_points,
                deferral=timedelta(hours=settings.deferral_hours),
                keep_going=keep_going,
                pace=pace,
            )
            logger.info(
                "launch job",
                extra={
                    "campaign_id": job.campaign_id,
                    "done": progress.done if progress else None,
                    "queued": progress.queued if progress else 0,
                    "resume_at": clock.to_utc_iso(progress.resume_at)
                    if progress and progress.resume_at
                    else None,
                    "skipped_erased": erasures.skipped,
                },
            )
            if progress is not None:
                metrics.add_metric(name="CampaignMessagesQueued", unit="Count", value=progress.queued)
        except Exception:
            logger.exception("launch job failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
