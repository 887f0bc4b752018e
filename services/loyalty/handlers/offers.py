"""LoyaltyOffersFunction (contract A): invoked synchronously by campaigns, journeys and tickets.

``{"action": "issue_coupon" | "award_points" | "describe_template" | "list_rewards", ...}`` →
the contract's answer (services/loyalty/logic/offers.py; README "Offers").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.handlers.routes.wallet_deps import WalletDeps
from services.loyalty.logic.offers import OfferDeps, handle_offer
from shared import clock
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

SERVICE = "loyalty"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = WalletDeps.load()
    action = str(event.get("action")) if isinstance(event, dict) else "?"
    answer = handle_offer(
        event if isinstance(event, dict) else {},
        OfferDeps(
            coupons=deps.coupons(),
            rewards=deps.rewards(),
            points=deps.points(),
            now=clock.now(),
            tz=deps.tz,
            new_id=new_ulid,
            pseudonymise=deps.pseudonymise,
            correlation_id=str(
                event.get("correlation_id") or event.get("request_id") or context.aws_request_id
            )
            if isinstance(event, dict)
            else context.aws_request_id,
        ),
    )
    outcome = (
        "error"
        if "error" in answer
        else "issued"
        if answer.get("issued")
        else str(answer.get("reason") or "answered")
    )
    logger.info(
        "offer handled", extra={"action": action, "outcome": outcome, "replayed": answer.get("replayed")}
    )
    metrics.add_metric(name=f"Offer_{action}_{outcome}", unit="Count", value=1)
    return answer
