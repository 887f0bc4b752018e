"""What the ledger's handlers build per invocation: the configuration (cached per container), the
repository and the member's ledger id (loyalty's pseudonym)."""

from __future__ import annotations

from services.loyalty.dal.ledger import DynamoLedgerRepository
from services.loyalty.dal.loyalty_config import cached_config, refreshed_config
from services.loyalty.dal.privacy import pseudonym_key
from services.loyalty.logic.privacy import pseudonym
from services.loyalty.logic.purchase_points import LoyaltyConfig
from services.loyalty.logic.stores import StoreCheck, StoreDirectory
from services.loyalty.models.settings import PointsSettings
from shared import clock


def loyalty_config(settings: PointsSettings) -> LoyaltyConfig:
    snapshot = cached_config(settings.table_name, settings.loyalty_config_cache_seconds)
    return LoyaltyConfig(
        rules=snapshot.rules,
        tiers=snapshot.tiers,
        program=snapshot.program,
        expiry_policy=settings.points_expiry_policy,
        expiry_days=settings.points_expiry_days,
        tz=clock.zone(settings.mall_timezone),
    )


def store_check(settings: PointsSettings) -> StoreCheck:
    """The mall's store directory from the cached configuration (no read per request); a store it
    lacks is looked up again, at most once per few seconds per container, before refusing."""
    snapshot = cached_config(settings.table_name, settings.loyalty_config_cache_seconds)
    return StoreCheck(
        StoreDirectory(snapshot.stores),
        reload=lambda: StoreDirectory(
            refreshed_config(settings.table_name, settings.loyalty_config_cache_seconds).stores
        ),
    )


def ledger_repo(settings: PointsSettings) -> DynamoLedgerRepository:
    return DynamoLedgerRepository(settings.table_name)


def ledger_id_of(secret_arn: str, member_id: str) -> str:
    """The member's ledger id: loyalty's keyed pseudonym of the member id."""
    return pseudonym(pseudonym_key(secret_arn), member_id)
