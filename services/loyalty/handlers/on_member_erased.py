"""LoyaltyOnMemberErasedFunction: MemberErased (rule → queue → here) → the member's purchases keep
their accounting facts under a pseudonym (services/loyalty/logic/privacy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.dal.export_writer import S3ExportWriter
from services.loyalty.dal.privacy import DynamoLedgerPseudonymiser
from services.loyalty.dal.pseudonyms import pseudonym_key
from services.loyalty.dal.wallet_privacy import DynamoWalletEraser
from services.loyalty.logic.privacy import erase_member, pseudonym
from services.loyalty.models.settings import LoyaltyPrivacySettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import MemberErased
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "loyalty"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(LoyaltyPrivacySettings)
    ledger = DynamoLedgerPseudonymiser(settings.table_name)

    def on_erased(metadata: EventMetadata, data: MemberErased) -> None:
        result = erase_member(
            data.member_id,
            ledger,
            pseudonym_key(settings.pseudonym_key_secret_arn),
            erased_at=data.erased_at,
        )
        logger.info("member pseudonymised in loyalty", extra={"purchases": result.purchases})
        metrics.add_metric(name="PurchasesPseudonymised", unit="Count", value=result.purchases)
        # L2: coupons and receipts removed, redemptions/adjustments kept under the pseudonym
        # (after the tombstone: from then on no coupon can be issued to the member).
        wallet = DynamoWalletEraser(settings.table_name, clock.zone(settings.mall_timezone)).erase(
            data.member_id, pseudonym(pseudonym_key(settings.pseudonym_key_secret_arn), data.member_id)
        )
        logger.info("member wallet erased", extra={"coupons": wallet.coupons, "receipts": wallet.receipts})
        metrics.add_metric(name="CouponsErased", unit="Count", value=wallet.coupons)
        # Loyalty's export parts written before this erasure (members deleted those it saw; a part
        # written after its sweep is only known here).
        if wallet.export_objects:
            if not settings.member_exports_bucket:
                raise RuntimeError("MEMBER_EXPORTS_BUCKET is not set")
            writer = S3ExportWriter(settings.member_exports_bucket)
            for object_key in wallet.export_objects:
                writer.delete(object_key)

    return process_event_batch(event, context, routes={"MemberErased": typed(MemberErased, on_erased)})
