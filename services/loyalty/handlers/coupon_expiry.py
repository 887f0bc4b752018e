"""LoyaltyCouponExpiryFunction: the daily coupon job (EventBridge Scheduler, mall time zone).

CouponExpiring for coupons that expire within ``COUPON_EXPIRING_DAYS`` local days (once per
coupon), then coupons past their last day become ``expired``. Reads the expiry index's day
partitions only (services/loyalty/logic/coupons.py::run_coupon_expiry)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.dal.coupons import DynamoCouponRepository
from services.loyalty.logic.coupons import run_coupon_expiry
from services.loyalty.models.wallet_settings import CouponExpirySettings
from shared import clock
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

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
    settings = load(CouponExpirySettings)
    tz = clock.zone(settings.mall_timezone)
    now = clock.now()
    run = run_coupon_expiry(
        DynamoCouponRepository(settings.table_name, tz),
        today=now.astimezone(tz).date(),
        days_ahead=settings.coupon_expiring_days,
        now=now,
        correlation_id=f"coupon-expiry-{now.astimezone(tz).date().isoformat()}",
    )
    logger.info("coupon expiry run", extra={"reminded": run.reminded, "expired": run.expired})
    metrics.add_metric(name="CouponExpiringPublished", unit="Count", value=run.reminded)
    metrics.add_metric(name="CouponsExpired", unit="Count", value=run.expired)
    return {"reminded": run.reminded, "expired": run.expired}
