"""CampaignsOnChannelReceiptsFunction: SES's e-mail events for campaigns' configuration set
(default bus, ``CampaignsChannelReceiptsRule`` → ``CampaignsChannelReceiptsQueue`` → here) →
delivered / clicked / bounced / complained on the send record, once each (logic/receipts.py); a
complaint also publishes ``MarketingComplaintReceived`` for members (which owns consent) and refuses
marketing e-mail in campaigns' consent projection at once.

The messages are AWS service events, not MallCRM envelopes, so the batch is walked here rather
than by ``shared.consumer``; a record that cannot be read or written is reported as a batch item
failure (ReportBatchItemFailures; DLQ after 5 receives). A receipt whose send record is gone (an
erased member) or that names no send is acknowledged: retrying cannot change it.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from services.campaigns.dal.receipts import DynamoReceiptStore, ProjectionRefusals
from services.campaigns.logic.privacy import ConsentFact
from services.campaigns.logic.receipts import SES_SOURCE, apply_receipt, receipt_from_ses
from services.campaigns.models.settings import CampaignsReceiptSettings
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


class _LazyRefusals:
    """The pseudonym key is read only when a complaint arrives (rare)."""

    def __init__(self, settings: CampaignsReceiptSettings) -> None:
        self.settings = settings
        self._inner: ProjectionRefusals | None = None

    def refuse(self, fact: ConsentFact) -> None:
        if self._inner is None:
            from services.campaigns.dal.privacy import pseudonym_key  # noqa: PLC0415

            key = pseudonym_key(self.settings.pseudonym_key_secret_arn)
            self._inner = ProjectionRefusals(self.settings.table_name, key)
        self._inner.refuse(fact)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(CampaignsReceiptSettings)
    store = DynamoReceiptStore(settings.table_name)
    refusals = _LazyRefusals(settings)
    failures: list[dict[str, str]] = []
    outcomes: Counter[str] = Counter()
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            body = json.loads(record["body"])
            if body.get("source") != SES_SOURCE:
                outcomes["ignored"] += 1
                continue
            receipt = receipt_from_ses(str(body.get("detail-type")), body.get("detail") or {})
            if receipt is None:
                outcomes["ignored"] += 1
                continue
            outcome = apply_receipt(receipt, store, refusals)
            outcomes[f"{receipt.kind}_{outcome}"] += 1
            if outcome != "recorded" or receipt.kind in {"bounced", "complained"}:
                logger.info(
                    "channel receipt",
                    extra={"send_id": receipt.send_id, "kind": receipt.kind, "outcome": outcome},
                )
        except Exception:
            logger.exception("channel receipt failed", extra={"message_id": message_id})
            failures.append({"itemIdentifier": message_id})
    logger.info("channel receipts batch", extra={"outcomes": dict(outcomes), "failed": len(failures)})
    for name, n in outcomes.items():
        metrics.add_metric(name=f"Receipt_{name}", unit="Count", value=n)
    return {"batchItemFailures": failures}
