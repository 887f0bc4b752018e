"""LoyaltyOnMemberExportFunction: MemberExportRequested (members; rule → queue → here) → loyalty's
part of the member's data export, ``<object_prefix>loyalty.json`` in the members' export bucket
(docs/contracts/export.md). Idempotent: the object is overwritten with the same content's newer
snapshot; an expired request is skipped; an erased or unknown member gets ``"data": null``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.loyalty.dal.export_writer import S3ExportWriter
from services.loyalty.dal.exports import DynamoLoyaltyExportReader
from services.loyalty.dal.pseudonyms import pseudonym_key
from services.loyalty.logic.exports import LoyaltyHoldings, export_part
from services.loyalty.logic.privacy import pseudonym
from services.loyalty.models.settings import LoyaltyExportSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.contracts import MemberExportRequested
from shared.exports import write_part_guarded
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "loyalty"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


def write_export(
    reader: DynamoLoyaltyExportReader, writer: S3ExportWriter, key: bytes, data: MemberExportRequested
) -> str | None:
    """The member's loyalty data as ``<prefix>loyalty.json`` (``data: null`` once erased), written
    so that an erasure racing the export leaves nothing behind (``shared.exports``)."""
    ledger_id = pseudonym(key, data.member_id)
    holdings: LoyaltyHoldings | None = None
    if not reader.is_erased(ledger_id):
        holdings = reader.holdings(data.member_id, ledger_id)
        if holdings.balance is not None and holdings.balance.erased_at is not None:
            holdings = None
    part = export_part(export_id=data.export_id, member_id=data.member_id, holdings=holdings, now=clock.now())
    return write_part_guarded(
        member_id=data.member_id,
        export_id=data.export_id,
        object_prefix=data.object_prefix,
        part=part,
        holds_data=holdings is not None,
        writer=writer,
        pointers=reader,
        erased=lambda: reader.is_erased(ledger_id),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(LoyaltyExportSettings)

    def on_export(metadata: EventMetadata, data: MemberExportRequested) -> None:
        if data.expires_at <= clock.now():
            logger.info("export request expired; skipped", extra={"export_id": data.export_id})
            return
        if not settings.member_exports_bucket:
            raise RuntimeError("MEMBER_EXPORTS_BUCKET is not set")
        write_export(
            DynamoLoyaltyExportReader(settings.table_name),
            S3ExportWriter(settings.member_exports_bucket),
            pseudonym_key(settings.pseudonym_key_secret_arn),
            data,
        )
        metrics.add_metric(name="ExportPartWritten", unit="Count", value=1)

    return process_event_batch(
        event, context, routes={"MemberExportRequested": typed(MemberExportRequested, on_export)}
    )


__all__ = ["handler", "write_export"]
