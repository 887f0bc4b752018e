"""What the wallet routes, the offers function and the wallet jobs build per invocation:
settings, repositories, the pseudonymiser and request helpers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.loyalty.models.wallet_settings import OffersSettings
from shared import clock
from shared.api import validation_fields
from shared.auth import event_body_bytes
from shared.errors import BadRequest, Unprocessable
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only; imported by the routes that use them
    from services.loyalty.dal.coupons import DynamoCouponRepository
    from services.loyalty.dal.rewards import DynamoRewardRepository
    from services.loyalty.dal.wallet_points import LedgerPoints
    from services.loyalty.logic.stores import StoreCheck

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass
class WalletDeps:
    settings: OffersSettings

    @classmethod
    def load(cls) -> WalletDeps:
        return cls(load(OffersSettings))

    @property
    def tz(self) -> tzinfo:
        return clock.zone(self.settings.mall_timezone)

    def coupons(self) -> DynamoCouponRepository:
        from services.loyalty.dal.coupons import DynamoCouponRepository  # noqa: PLC0415 - cold start

        return DynamoCouponRepository(self.settings.table_name, self.tz)

    def rewards(self) -> DynamoRewardRepository:
        from services.loyalty.dal.rewards import DynamoRewardRepository  # noqa: PLC0415 - cold start

        return DynamoRewardRepository(self.settings.table_name)

    def points(self) -> LedgerPoints:
        from services.loyalty.dal.wallet_points import LedgerPoints  # noqa: PLC0415 - cold start

        return LedgerPoints(
            self.settings.table_name,
            self.pseudonymise,
            self.tz,
            expiry_policy=self.settings.points_expiry_policy,
            expiry_days=self.settings.points_expiry_days,
        )

    def earning_for(self, member_id: str) -> Callable[[str, int, datetime], int]:
        """What a till purchase of the member earns under L1's earning rules and their tier:
        ``(store_id, amount_cents, occurred_at) -> points`` (receipt claims)."""
        from services.loyalty.dal.loyalty_config import cached_config  # noqa: PLC0415 - receipts only
        from services.loyalty.logic.earning import PurchaseFacts, calculate  # noqa: PLC0415
        from services.loyalty.logic.tiers import benefits_of, earned_today  # noqa: PLC0415

        config = cached_config(self.settings.table_name, self.settings.loyalty_config_cache_seconds)
        balance = self.points().balance(member_id)
        benefits = benefits_of(balance, config.tiers)
        tz = self.tz

        def points(store_id: str, amount_cents: int, at: datetime) -> int:
            store = config.stores.get(store_id)  # the directory's tenant: tenant-scoped rules apply
            facts = PurchaseFacts(
                store_id=store_id,
                tenant_id=store.tenant_id if store is not None else None,
                channel="pos",
                amount_cents=amount_cents,
                lines=[("receipt", amount_cents)],
                occurred_at=at,
            )
            return calculate(
                facts,
                config.rules,
                tier=balance.tier if balance else None,
                tier_multiplier_pct=benefits.points_multiplier_pct,
                earned_today=earned_today(balance, at, tz) if balance else 0,
                tz=tz,
            ).points

        return points

    def store_check(self) -> StoreCheck:
        """The mall's store directory, from the configuration cached per container (re-read before
        refusing a store it lacks, as on the purchase path)."""
        from services.loyalty.handlers.ledger_deps import store_check  # noqa: PLC0415 - receipts only

        return store_check(self.settings)

    def pseudonymise(self, member_id: str) -> str:
        from services.loyalty.dal.privacy import pseudonym_key  # noqa: PLC0415 - cold start
        from services.loyalty.logic.privacy import pseudonym  # noqa: PLC0415 - cold start

        return pseudonym(pseudonym_key(self.settings.pseudonym_key_secret_arn), member_id)


def parse_body(model: type[ModelT], event: Mapping[str, Any]) -> ModelT:
    """The request body as ``model``: 400 ``malformed_json``, 422 ``validation_failed`` with fields."""
    try:
        return model.model_validate_json(event_body_bytes(event) or b"")
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise BadRequest("malformed_json", "The request body is not valid JSON.") from None
        raise Unprocessable(fields=validation_fields(errors)) from None


def correlation_id(event: Mapping[str, Any]) -> str:
    headers = event.get("headers") or {}
    return str(headers.get("x-correlation-id") or (event.get("requestContext") or {}).get("requestId") or "")
