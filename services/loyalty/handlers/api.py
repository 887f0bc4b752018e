"""LoyaltyApiFunction: the loyalty HTTP API.

Cold start: the routes import their logic and DynamoDB modules when they first run (each route
uses a few of them), so importing this module registers every route without loading them all.

``POST /v1/integrations/purchases`` — signed by the integrating system (HMAC, shared.auth): no
gateway authorizer; the signature is checked here before the body is even parsed, so an unsigned
request learns nothing about the body's validation.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from services.loyalty.handlers.routes import adjustments as wallet_adjustments
from services.loyalty.handlers.routes import coupons as wallet_coupons
from services.loyalty.handlers.routes import earning_admin as ledger_admin
from services.loyalty.handlers.routes import parking as wallet_parking
from services.loyalty.handlers.routes import points as ledger_points
from services.loyalty.handlers.routes import receipts as wallet_receipts
from services.loyalty.handlers.routes import refunds as ledger_refunds
from services.loyalty.handlers.routes import rewards as wallet_rewards
from services.loyalty.handlers.routes import stores_admin as ledger_stores
from services.loyalty.handlers.routes import wechatpay as wallet_wechatpay
from services.loyalty.models.api import PurchaseRequest, PurchaseResponse
from services.loyalty.models.settings import LoyaltyApiSettings
from shared import clock
from shared.api import make_resolver, validation_fields
from shared.auth import event_body_bytes
from shared.errors import BadRequest, Unprocessable
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load
from shared.web import Response, content_types  # resolved at runtime (return annotations)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from services.loyalty.logic.purchases import RecordedPurchase

SERVICE = "loyalty"
PURCHASES_PATH = "/v1/integrations/purchases"

logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)
# The signature covers the raw body, so the route reads and validates it itself (_parse_purchase):
# no injected parameters, and no validation machinery to pay for at every cold start.
app = make_resolver(validation=False)
app.include_router(wallet_coupons.router)  # L2: coupons (handlers/routes/coupons.py)
app.include_router(wallet_rewards.router)  # L2: rewards and redemptions
app.include_router(wallet_adjustments.router)  # L2: points adjustments (four eyes)
app.include_router(wallet_receipts.router)  # L2: receipt-photo claims
app.include_router(wallet_parking.router)  # L2: parking sessions, quotes, offsets
app.include_router(wallet_wechatpay.router)  # L2: WeChat Pay business-district notices
app.include_router(ledger_points.router)  # L1: the member's points and movements
app.include_router(ledger_refunds.router)  # L1: signed refunds
app.include_router(ledger_admin.router)  # L1: earning rules, tiers, tier floors
app.include_router(ledger_stores.router)  # the mall's store directory


def _parse_purchase(raw: bytes) -> PurchaseRequest:
    try:
        return PurchaseRequest.model_validate_json(raw or b"")
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise BadRequest("malformed_json", "The request body is not valid JSON.") from None
        raise Unprocessable(fields=validation_fields(errors)) from None


def _response_json(recorded: RecordedPurchase) -> str:
    """The response's JSON text: what the resolver gives for a ``PurchaseResponse`` (same keys,
    order and values; tests/integration/loyalty/test_api_purchases.py and ledger_support.py hold
    them equal), without validating our own record once more and dumping it twice (model, then
    dict) on the hot path."""
    p = recorded.purchase
    body = {
        "purchase_id": p.purchase_id,
        "external_id": p.external_id,
        "source_system": p.source_system,
        "store_id": p.store_id,
        "tenant_id": p.tenant_id,
        "member_id": p.member_id,
        "amount_cents": p.amount_cents,
        "currency": p.currency,
        "channel": p.channel,
        "items": [
            {"sku": i.sku, "category": i.category, "quantity": i.quantity, "amount_cents": i.amount_cents}
            for i in p.items
        ],
        "occurred_at": clock.to_utc_iso(p.occurred_at),
        "recorded_at": clock.to_utc_iso(p.recorded_at),
        "replayed": recorded.replayed,
        "member_status": p.member_status,
        "points_earned": p.points_earned,
        "points_status": _points_status(recorded),
    }
    return json.dumps(body, separators=(",", ":"))


def _points_status(recorded: RecordedPurchase) -> Literal["pending", "available"] | None:
    plan = recorded.plan
    if plan is None or plan.change is None:
        return None
    return "pending" if plan.change.movement.kind == "pending" else "available"


_PURCHASE_DESCRIPTION = (
    "Signed by the integrating system: headers X-MallCRM-Source, X-MallCRM-Timestamp (epoch seconds, "
    "within 300 s), X-MallCRM-Nonce (16-128 URL-safe characters, single use) and X-MallCRM-Signature "
    "(hex HMAC-SHA256, see services/loyalty/README.md). The body is a PurchaseRequest (unknown fields "
    "rejected); it is validated only after the signature, so it is described here rather than as a "
    "typed request body. Recorded once per (source_system, external_id): a repeat with the same "
    "content answers 200 with replayed=true, with other content 409."
)
_JSON = "application/json"


@app.post(
    PURCHASES_PATH,
    request_body=PurchaseRequest,
    summary="Record a purchase (signed integration request)",
    description=_PURCHASE_DESCRIPTION,
    tags=["integrations"],
    responses={
        201: {"description": "Recorded", "content": {_JSON: {"model": PurchaseResponse}}},
        200: {
            "description": "A repeat of a recorded purchase",
            "content": {_JSON: {"model": PurchaseResponse}},
        },
        400: {"description": "The body is not JSON"},
        401: {"description": "Signature missing, invalid, stale or replayed"},
        403: {"description": "source_system is not the signing source"},
        409: {"description": "The external id was recorded with other content"},
        422: {
            "description": "The body failed validation (error.fields), or: unknown_store, "
            "store_inactive, store_tenant_mismatch (the mall's store directory), amount_exceeds_items"
        },
    },
)
def post_purchase() -> Response[PurchaseResponse]:
    from services.loyalty.dal.privacy import pseudonym_key  # noqa: PLC0415 - cold start
    from services.loyalty.dal.purchases import DynamoPurchaseRepository  # noqa: PLC0415 - cold start
    from services.loyalty.handlers.ledger_deps import ledger_repo, loyalty_config, store_check  # noqa: PLC0415 - cold start
    from services.loyalty.handlers.routes.signed import verify_integration_post  # noqa: PLC0415 - cold start
    from services.loyalty.logic.privacy import pseudonym  # noqa: PLC0415 - cold start
    from services.loyalty.logic.purchases import PurchasePoints, SignedBy, record_purchase  # noqa: PLC0415 - cold start
    from services.loyalty.logic.stores import REFUSALS  # noqa: PLC0415 - cold start

    settings = load(LoyaltyApiSettings)
    event = app.current_event
    raw = event_body_bytes(event.raw_event)
    now = clock.now()
    signed = verify_integration_post(event.headers, PURCHASES_PATH, raw, settings, now)
    request = _parse_purchase(raw)
    correlation_id = event.headers.get("x-correlation-id") or event.request_context.request_id
    try:
        recorded = record_purchase(
            request,
            SignedBy(source=signed.source, nonce=signed.nonce),
            DynamoPurchaseRepository(settings.table_name),
            now=now,
            new_id=new_ulid,
            correlation_id=correlation_id,
            producer="loyalty.api",
            # A nonce must outlive every timestamp that could still pass the skew check.
            nonce_ttl=timedelta(seconds=2 * settings.signature_max_skew_seconds + 60),
            pseudonymise=lambda member_id: pseudonym(
                pseudonym_key(settings.pseudonym_key_secret_arn), member_id
            ),
            points=PurchasePoints(ledger=ledger_repo(settings), config=loyalty_config(settings)),
            stores=store_check(settings),
        )
    except REFUSALS as refused:
        # A POS sending an unknown store or unitemised amounts: visible to operators (alarm on it).
        logger.warning(
            "purchase refused",
            extra={
                "code": refused.code,
                "source_system": request.source_system,
                "store_id": request.store_id,
            },
        )
        metrics.add_metric(name="PurchaseRefused", unit="Count", value=1)
        raise
    logger.info(
        "purchase replayed" if recorded.replayed else "purchase recorded",
        extra={
            "purchase_id": recorded.purchase.purchase_id,
            "source_system": recorded.purchase.source_system,
            "external_id": recorded.purchase.external_id,
        },
    )
    metrics.add_metric(
        name="PurchaseReplayed" if recorded.replayed else "PurchaseRecorded", unit="Count", value=1
    )
    if recorded.purchase.member_status and not recorded.replayed:
        metrics.add_metric(name="PurchaseOfErasedMember", unit="Count", value=1)
    response: Response[PurchaseResponse] = Response(
        status_code=200 if recorded.replayed else 201, content_type=content_types.APPLICATION_JSON
    )
    response.body = _response_json(recorded)  # a PurchaseResponse's JSON; a str body is sent as is
    return response


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
