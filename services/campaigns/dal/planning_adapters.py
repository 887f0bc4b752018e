"""Outside calls of the planning side: loyalty's offers function (contract A), EventBridge
Scheduler, and the two SQS queues (launch jobs; dispatch, contract B)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from services.campaigns.logic.planning_errors import OffersUnavailable
from shared.aws import client

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.campaigns.logic.campaigns import TemplateInfo
    from services.campaigns.models.dispatch import SendRequest

SQS_BATCH = 10


class LambdaOfferCatalogue:
    """``describe_template`` through ``LoyaltyOffersFunction`` (Lambda Invoke, RequestResponse)."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def describe_template(self, template_id: str) -> TemplateInfo:
        from services.campaigns.logic.campaigns import TemplateInfo  # noqa: PLC0415 - cold start

        response = client("lambda").invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps({"action": "describe_template", "template_id": template_id}).encode(),
        )
        payload = response["Payload"].read()
        if response.get("FunctionError"):
            raise OffersUnavailable(f"LoyaltyOffersFunction failed: {payload[:200]!r}")
        body = json.loads(payload or b"{}")
        if not isinstance(body, dict) or "exists" not in body:
            raise OffersUnavailable("LoyaltyOffersFunction answered without 'exists'")
        return TemplateInfo(
            exists=bool(body["exists"]),
            kind=body.get("kind"),
            valid_days=body.get("valid_days"),
            status=body.get("status"),
        )


class EventBridgeLaunchScheduler:
    """A one-time EventBridge Scheduler schedule (``at()`` in the mall's time zone) whose target is
    the launch queue; deleted by Scheduler after it fires."""

    def __init__(self, group: str, queue_arn: str, role_arn: str) -> None:
        self.group = group
        self.queue_arn = queue_arn
        self.role_arn = role_arn

    def schedule_launch(self, campaign_id: str, at_local: datetime, timezone: str) -> str:
        name = f"campaign-launch-{campaign_id}"
        self._create(name, at_local, timezone, {"campaign_id": campaign_id, "cursor": 0, "scheduled": True})
        return name

    def schedule_continuation(self, campaign_id: str, cursor: int, at: datetime) -> str:
        """A paced launch continues from ``cursor`` at ``at`` (UTC). The name holds the cursor and
        the minute, so a redelivered job asks for the same schedule again: ``ConflictException``
        means it exists, which is what was wanted."""
        at_utc = at.astimezone(UTC)
        name = f"campaign-launch-{campaign_id}-{cursor}-{at_utc.strftime('%Y%m%d%H%M')}"
        try:
            self._create(name, at_utc, "UTC", {"campaign_id": campaign_id, "cursor": cursor})
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code") != "ConflictException":
                raise
        return name

    def _create(self, name: str, at: datetime, timezone: str, job: dict[str, Any]) -> None:
        """A one-time schedule at ``at`` (wall time in ``timezone``) that puts ``job`` on the queue."""
        client("scheduler").create_schedule(
            Name=name,
            GroupName=self.group,
            ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone=timezone,
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={"Arn": self.queue_arn, "RoleArn": self.role_arn, "Input": json.dumps(job)},
        )

    def delete_launch_schedule(self, name: str) -> None:
        """Cancellation: the pending schedule goes (ResourceNotFound: it fired — Scheduler deleted
        it after completion — or a retried cancel deleted it already)."""
        try:
            client("scheduler").delete_schedule(Name=name, GroupName=self.group)
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code != "ResourceNotFoundException":
                raise


def _send_batch(queue_url: str, bodies: Sequence[str], attempts: int = 5) -> None:
    sqs = client("sqs")
    pending = {str(i): body for i, body in enumerate(bodies)}
    for attempt in range(attempts):
        response = sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": i, "MessageBody": b} for i, b in pending.items()]
        )
        failed = {f["Id"] for f in response.get("Failed", [])}
        pending = {i: b for i, b in pending.items() if i in failed}
        if not pending:
            return
        time.sleep(min(0.05 * 2**attempt, 1.0))
    raise RuntimeError(f"{len(pending)} messages could not be queued to {queue_url}")


def _send_batches(queue_url: str, bodies: Sequence[str], concurrency: int = 8) -> None:
    """SendMessageBatch in tens, up to ``concurrency`` calls in flight: on Lambda each call waits
    ~10-20 ms on the network, so one at a time would cap a launch near 700 messages/s. botocore
    clients are thread-safe; the first failure is raised once all calls have returned."""
    batches = [bodies[i : i + SQS_BATCH] for i in range(0, len(bodies), SQS_BATCH)]
    if len(batches) <= 1:
        for batch in batches:
            _send_batch(queue_url, batch)
        return
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - only launches need it

    client("sqs")  # created once, before the threads share it
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(_send_batch, queue_url, batch) for batch in batches]:
            future.result()


class SqsDispatch:
    """Contract B producer: SendRequests to ``CampaignsDispatchQueue`` in batches of 10, up to
    ``concurrency`` batches in flight."""

    def __init__(self, queue_url: str, concurrency: int = 8) -> None:
        self.queue_url = queue_url
        self.concurrency = concurrency

    def enqueue(self, requests: Sequence[SendRequest]) -> None:
        _send_batches(self.queue_url, [r.model_dump_json() for r in requests], self.concurrency)

    def enqueue_bodies(self, bodies: Sequence[str]) -> None:
        _send_batches(self.queue_url, bodies, self.concurrency)


class SqsLaunchQueue:
    """Launch jobs (``{"campaign_id", "cursor"}``) to ``CampaignsLaunchQueue``."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def request_launch(self, campaign_id: str, cursor: int = 0) -> None:
        body: dict[str, Any] = {"campaign_id": campaign_id, "cursor": cursor}
        client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(body))


class PacedLaunchQueue(SqsLaunchQueue):
    """The launch worker's continuations: at once (out of time) through the queue, later (quiet
    hours, the rate) through a one-time schedule whose target is the same queue."""

    def __init__(self, queue_url: str, scheduler: EventBridgeLaunchScheduler) -> None:
        super().__init__(queue_url)
        self.scheduler = scheduler

    def resume_launch(self, campaign_id: str, cursor: int, at: datetime) -> None:
        self.scheduler.schedule_continuation(campaign_id, cursor, at)
