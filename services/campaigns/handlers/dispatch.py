"""CampaignsDispatchFunction: ``CampaignsDispatchQueue`` (contract B SendRequests) → guardrails →
channel adapters. The SQS batch is processed as a batch (``logic.dispatch.process_batch``: state
read with BatchGetItem, writes in few transactions); partial batch failures are reported
(ReportBatchItemFailures) per message. A body that does not parse fails its record (DLQ after 5
receives) — retrying cannot fix it, but the DLQ keeps it for a person to look at.

One log line per batch (outcome counts) and one per message that failed or was suppressed; one
metric per outcome with the batch's count.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from services.campaigns.dal.channels import (
    MembersContactDirectory,
    SesEmailAdapter,
    SnsSmsAdapter,
    WeChatSubscribeAdapter,
    local_adapters,
)
from services.campaigns.dal.dispatch import DynamoDispatchStore, SchedulerWaker
from services.campaigns.dal.offers import LambdaOffers
from services.campaigns.dal.wechat_token import stable_access_token
from services.campaigns.logic.dispatch import ChannelAdapter, Dependencies, Policy, process_batch
from services.campaigns.logic.guardrails import Limits, QuietHours
from services.campaigns.models.dispatch import SendRequest
from services.campaigns.models.settings import DispatchSettings
from shared import clock
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)
# Counted, not logged one by one. A deferral is routine too (a rate-limited or capped launch defers
# thousands a minute) and each is recorded as a MessageSuppressed event with its reason anyway.
_ROUTINE = frozenset({"held", "sent", "duplicate", "not_due", "deferred"})


def policy_from(settings: DispatchSettings) -> Policy:
    return Policy(
        zone=clock.zone(settings.mall_timezone),
        limits=Limits(per_day=settings.cap_per_day, per_week=settings.cap_per_week),
        quiet=QuietHours(settings.quiet_start_hour, settings.quiet_end_hour),
        decision_window=timedelta(seconds=settings.decision_window_seconds),
        rate_per_minute=settings.campaign_rate_per_minute,
        max_attempts=settings.max_send_attempts,
    )


def adapters_from(settings: DispatchSettings) -> dict[str, ChannelAdapter]:
    adapters: dict[str, ChannelAdapter] = local_adapters()
    if settings.channel_mode == "aws":
        if not settings.contact_directory_function:
            raise RuntimeError("CHANNEL_MODE=aws needs CONTACT_DIRECTORY_FUNCTION")
        contacts = MembersContactDirectory(settings.contact_directory_function)
        adapters["sms"] = SnsSmsAdapter(contacts, settings.sms_sender_id)
        if settings.email_from:
            adapters["email"] = SesEmailAdapter(contacts, settings.email_from, settings.ses_configuration_set)
        else:
            del adapters["email"]
        if settings.wechat_template_id:
            if not settings.wechat_app_secret_arn:
                raise RuntimeError("WECHAT_TEMPLATE_ID needs WECHAT_APP_SECRET_ARN (the access token)")
            adapters["wechat"] = WeChatSubscribeAdapter(
                contacts,
                settings.wechat_template_id,
                stable_access_token(
                    settings.wechat_app_secret_arn, secret_max_age=settings.secret_cache_seconds
                ),
                keywords=settings.wechat_template_keywords,
            )
        else:
            # The deployment chose no template (CampaignWeChatTemplateId ""): sends that pick WeChat
            # fail channel_unavailable rather than pretend; said once per container, not per batch.
            _note_once(
                "wechat_without_template",
                "WeChat channel off: CHANNEL_MODE=aws without WECHAT_TEMPLATE_ID (CampaignWeChatTemplateId)",
            )
            del adapters["wechat"]
    return adapters


_noted: set[str] = set()


def _note_once(key: str, message: str) -> None:
    """Log a configuration fact once per container, not on every batch."""
    if key not in _noted:
        _noted.add(key)
        logger.warning(message)


def _without_erased(
    requests: list[SendRequest], message_ids: list[str], settings: DispatchSettings
) -> tuple[list[SendRequest], list[str], int]:
    """The batch without the requests of members erased after they were queued (their SQS
    messages are acknowledged: nothing is left to do for them)."""
    from services.campaigns.dal.recent_erasures import recent_erasures  # noqa: PLC0415
    from services.campaigns.logic.recent_erasures import split_erased  # noqa: PLC0415

    kept, erased = split_erased(
        requests, recent_erasures(settings.table_name, settings.pseudonym_key_secret_arn)
    )
    if not erased:
        return requests, message_ids, 0
    return [requests[i] for i in kept], [message_ids[i] for i in kept], len(erased)


def dependencies(settings: DispatchSettings) -> Dependencies:
    return Dependencies(
        store=DynamoDispatchStore(settings.table_name),
        channels=adapters_from(settings),
        offers=LambdaOffers(settings.loyalty_offers_function),
        waker=SchedulerWaker(
            settings.due_function_arn,
            settings.scheduler_role_arn,
            settings.schedule_group,
            settings.due_dlq_arn,
            table_name=settings.table_name,
        ),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(DispatchSettings)
    deps = dependencies(settings)
    policy = policy_from(settings)
    failures: list[dict[str, str]] = []
    requests: list[SendRequest] = []
    message_ids: list[str] = []
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            requests.append(SendRequest.parse(record["body"]))
            message_ids.append(message_id)
        except Exception:
            logger.exception("unreadable send request", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    requests, message_ids, erased = _without_erased(requests, message_ids, settings)
    outcomes = process_batch(requests, deps, policy, clock.now())
    counts: Counter[str] = Counter()
    if erased:
        # Dropped without a trace that names the member: only the count (and the message ack).
        counts["member_erased"] += erased
    for request, message_id, outcome in zip(requests, message_ids, outcomes, strict=True):
        if isinstance(outcome, Exception):
            logger.error(
                "dispatch failed",
                extra={"send_id": request.send_id, "error": f"{type(outcome).__name__}: {outcome}"},
            )
            failures.append({"itemIdentifier": message_id})
            counts["error"] += 1
            continue
        counts[outcome] += 1
        if outcome not in _ROUTINE:
            logger.info("dispatched", extra={"send_id": request.send_id, "outcome": outcome})
    logger.info("dispatch batch", extra={"outcomes": dict(counts), "notes": deps.notes})
    for outcome, n in counts.items():
        metrics.add_metric(name=f"Dispatch_{outcome}", unit="Count", value=n)
    return {"batchItemFailures": failures}
