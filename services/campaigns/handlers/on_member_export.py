"""CampaignsOnMemberExportFunction: MemberExportRequested (members; rule → queue → here) →
campaigns' part of the member's data export, ``<object_prefix>campaigns.json`` in the members'
export bucket (docs/contracts/export.md). Idempotent: the object is overwritten with a newer
snapshot of the same data; an expired request is skipped; an erased or unknown member gets
``"data": null``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.campaigns.dal.exports import DynamoCampaignsExportReader, S3ExportWriter
from services.campaigns.logic.exports import CampaignsHoldings, export_part
from services.campaigns.models.settings import CampaignsExportSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.events.members import MemberExportRequested
from shared.exports import write_part_guarded
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from shared.events.envelope import EventMetadata

SERVICE = "campaigns"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


def write_export(
    reader: DynamoCampaignsExportReader, writer: S3ExportWriter, pseudonym: str, data: MemberExportRequested
) -> str | None:
    """The member's campaigns data as ``<prefix>campaigns.json`` (``data: null`` once erased),
    written so that an erasure racing the export leaves nothing behind (``shared.exports``)."""
    now = clock.now()
    holdings: CampaignsHoldings | None = None
    if not reader.is_erased(pseudonym):
        holdings = reader.holdings(data.member_id, now)
    part = export_part(export_id=data.export_id, member_id=data.member_id, holdings=holdings, now=now)
    return write_part_guarded(
        member_id=data.member_id,
        export_id=data.export_id,
        object_prefix=data.object_prefix,
        part=part,
        holds_data=holdings is not None and not holdings.empty(),
        writer=writer,
        pointers=reader,
        erased=lambda: reader.is_erased(pseudonym),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(CampaignsExportSettings)

    def on_export(metadata: EventMetadata, data: MemberExportRequested) -> None:
        if data.expires_at <= clock.now():
            logger.info("export request expired; skipped", extra={"export_id": data.export_id})
            return
        from services.campaigns.dal.privacy import pseudonym_key  # noqa: PLC0415 - see README cold imports
        from services.campaigns.logic.privacy import pseudonym  # noqa: PLC0415

        written = write_export(
            DynamoCampaignsExportReader(settings.table_name),
            S3ExportWriter(settings.member_exports_bucket),
            pseudonym(pseudonym_key(settings.pseudonym_key_secret_arn), data.member_id),
            data,
        )
        logger.info("export part", extra={"export_id": data.export_id, "written": written is not None})
        metrics.add_metric(name="ExportPartWritten", unit="Count", value=1)

    return process_event_batch(
        event, context, routes={"MemberExportRequested": typed(MemberExportRequested, on_export)}
    )


__all__ = ["handler", "write_export"]
