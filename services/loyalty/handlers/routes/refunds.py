"""``POST /v1/integrations/refunds`` — signed like purchases (no gateway authorizer; the signature
is checked before the body is parsed). See services/loyalty/logic/refunds.py."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from services.loyalty.handlers.routes.ledger_common import parse_bytes
from services.loyalty.models.refunds import RefundRequest, RefundResponse
from services.loyalty.models.settings import LoyaltyApiSettings
from shared import clock
from shared.auth import event_body_bytes
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics
from shared.settings import load
from shared.web import Response, Router, content_types

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.logic.refunds import RecordedRefund

router = Router()
logger = get_logger("loyalty")
metrics = get_metrics("loyalty")
REFUNDS_PATH = "/v1/integrations/refunds"
_JSON = "application/json"


def _body(recorded: RecordedRefund) -> RefundResponse:
    r = recorded.refund
    return RefundResponse(
        refund_id=r.refund_id,
        external_id=r.external_id,
        source_system=r.source_system,
        purchase_id=r.purchase_id,
        purchase_external_id=r.purchase_external_id,
        store_id=r.store_id,
        amount_cents=r.amount_cents,
        currency=r.currency,
        full_refund=r.full_refund,
        points_clawed_back=r.points_clawed_back,
        occurred_at=clock.to_utc_iso(r.occurred_at),
        recorded_at=clock.to_utc_iso(r.recorded_at),
        replayed=recorded.replayed,
    )


@router.post(
    REFUNDS_PATH,
    request_body=RefundRequest,
    summary="Record a refund of a purchase (signed integration request)",
    description="Signed exactly like POST /v1/integrations/purchases. The body is a RefundRequest "
    "(purchase_external_id names a purchase of the same source). Full or partial; the refunds of "
    "a purchase cannot exceed its amount (422 refund_exceeds_purchase). Points are taken back from "
    "the purchase's lots first; a shortfall is recorded as a negative balance. Once per "
    "(source_system, external_id): a repeat answers 200 replayed, other content 409.",
    tags=["integrations"],
    responses={
        201: {"description": "Recorded", "content": {_JSON: {"model": RefundResponse}}},
        200: {"description": "A repeat of a recorded refund", "content": {_JSON: {"model": RefundResponse}}},
        400: {"description": "The body is not JSON"},
        401: {"description": "Signature missing, invalid, stale or replayed"},
        403: {"description": "source_system is not the signing source"},
        404: {"description": "No such purchase from this source"},
        409: {"description": "The external id was recorded with other content"},
        422: {"description": "Validation failed, wrong store, or more than the purchase"},
    },
)
def post_refund() -> Response[RefundResponse]:
    from services.loyalty.dal.ledger import DynamoLedgerRepository  # noqa: PLC0415 - cold start
    from services.loyalty.dal.privacy import pseudonym_key  # noqa: PLC0415 - cold start
    from services.loyalty.dal.refunds import DynamoRefundRepository  # noqa: PLC0415 - cold start
    from services.loyalty.handlers.routes.signed import verify_integration_post  # noqa: PLC0415 - cold start
    from services.loyalty.logic.privacy import pseudonym  # noqa: PLC0415 - cold start
    from services.loyalty.logic.purchases import SignedBy  # noqa: PLC0415 - cold start
    from services.loyalty.logic.refunds import record_refund  # noqa: PLC0415 - cold start

    settings = load(LoyaltyApiSettings)
    event = router.current_event
    raw = event_body_bytes(event.raw_event)
    now = clock.now()
    signed = verify_integration_post(event.headers, REFUNDS_PATH, raw, settings, now)
    request = parse_bytes(RefundRequest, raw)
    correlation_id = event.headers.get("x-correlation-id") or str(
        event.raw_event.get("requestContext", {}).get("requestId") or new_ulid()
    )
    recorded = record_refund(
        request,
        SignedBy(source=signed.source, nonce=signed.nonce),
        DynamoRefundRepository(settings.table_name),
        DynamoLedgerRepository(settings.table_name),
        now=now,
        new_id=new_ulid,
        correlation_id=correlation_id,
        producer="loyalty.api",
        nonce_expires_at=now + timedelta(seconds=2 * settings.signature_max_skew_seconds + 60),
        pseudonymise=lambda member_id: pseudonym(pseudonym_key(settings.pseudonym_key_secret_arn), member_id),
        tz=clock.zone(settings.mall_timezone),
    )
    logger.info(
        "refund replayed" if recorded.replayed else "refund recorded",
        extra={"refund_id": recorded.refund.refund_id, "purchase_id": recorded.refund.purchase_id},
    )
    metrics.add_metric(
        name="RefundReplayed" if recorded.replayed else "RefundRecorded", unit="Count", value=1
    )
    return Response(
        status_code=200 if recorded.replayed else 201,
        content_type=content_types.APPLICATION_JSON,
        body=_body(recorded),
    )
