"""CampaignsOnSmsReceiptsFunction: SNS's SMS delivery status logs (``sns/<region>/<account>/
DirectPublishToPhoneNumber`` and ``…/Failure``, through CloudWatch Logs subscription filters; only
deployed with ``CampaignChannelMode=aws``) → delivered / bounced on the send record, once per SMS
(logic/receipts.py: :func:`~services.campaigns.logic.receipts.apply_sms_status`).

CloudWatch Logs invokes the function asynchronously with one batch (``awslogs.data``: base64 of
gzip of JSON). A record that cannot be read is logged and skipped (retrying cannot change it); a
status for a message campaigns did not send (another sender in the account, or a member erased
since) is counted and dropped. If a write fails, the others are still tried and the invocation then
raises: Lambda retries the whole batch (twice, then the function's on-failure queue), and the
statuses already recorded are replays the second time (nothing counted twice).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from services.campaigns.dal.receipts import DynamoReceiptStore
from services.campaigns.logic.receipts import (
    ReceiptError,
    apply_sms_status,
    is_sms_log_group,
    read_awslogs,
    sms_status,
)
from services.campaigns.models.settings import CampaignsSettings
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


class SmsReceiptsFailed(RuntimeError):
    """Some statuses could not be written: the batch is retried (recorded ones are replays)."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(CampaignsSettings)
    outcomes: Counter[str] = Counter()
    batch = read_awslogs(event)  # not a subscription payload: fail loudly (on-failure queue)
    if batch.message_type != "DATA_MESSAGE" or not is_sms_log_group(batch.log_group):
        # CONTROL_MESSAGE: CloudWatch Logs checking that the destination answers.
        logger.info("not an SMS status batch", extra={"type": batch.message_type, "group": batch.log_group})
        return {"outcomes": {"ignored": len(batch.events)}}
    store = DynamoReceiptStore(settings.table_name)
    failed = 0
    for log_event in batch.events:
        try:
            status = sms_status(log_event)
        except ReceiptError as exc:
            logger.error("unreadable SMS status", extra={"log_event_id": log_event.id, "error": str(exc)})
            outcomes["unreadable"] += 1
            continue
        if status is None:
            outcomes["ignored"] += 1
            continue
        try:
            outcome = apply_sms_status(status, store)
        except Exception:
            logger.exception("SMS status not recorded", extra={"log_event_id": log_event.id})
            failed += 1
            continue
        outcomes[f"{status.kind}_{outcome}"] += 1
        if status.kind == "bounced" and outcome == "recorded":
            logger.info("SMS not delivered", extra={"reason": status.reason})
    logger.info("SMS status batch", extra={"outcomes": dict(outcomes), "failed": failed})
    for name, n in outcomes.items():
        metrics.add_metric(name=f"SmsReceipt_{name}", unit="Count", value=n)
    if failed:
        raise SmsReceiptsFailed(f"{failed} of {len(batch.events)} SMS statuses not recorded")
    return {"outcomes": dict(outcomes)}
