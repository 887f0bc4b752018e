"""TicketsOnEventsFunction: other services' events that change tickets — one rule per producer →
one queue → here, idempotent on ``event_id``.

* ``ChurnRiskEscalated`` (campaigns) → a retention-call ticket, once per journey execution;
* ``MemberErased`` (members) → the member's tickets pseudonymised (text scrubbed of personal data),
  and no new ticket for the member from then on (a tombstone checked when a ticket opens);
* ``MemberProfileScored`` (members) → the member's value level, which raises ticket priority;
* ``MemberExportRequested`` (members) → the tickets part of the member's data export (S3);
* ``PointsAdjusted`` / ``PointsAdjustmentRejected`` (loyalty) → noted on the ticket they came from.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from services.tickets.dal.adapters import S3ExportWriter
from services.tickets.dal.exports import DynamoTicketsExportPointers
from services.tickets.dal.tickets import DynamoTicketsRepository, MemberErasedRefused
from services.tickets.logic.errors import TicketNotFound
from services.tickets.logic.exports import export_part
from services.tickets.logic.messages import say
from services.tickets.logic.tickets import (
    OpenRequest,
    member_names,
    mutate,
    note_points_adjusted,
    note_points_rejected,
    open_ticket,
    pseudonymise,
)
from services.tickets.models.settings import TicketsSettings
from shared import clock
from shared.consumer import process_event_batch, typed
from shared.dynamo import ConditionalCheckFailed
from shared.events.contracts import (
    ChurnRiskEscalated,
    MemberErased,
    MemberExportRequested,
    MemberProfileScored,
    PointsAdjusted,
    PointsAdjustmentRejected,
)
from shared.exports import write_part_guarded
from shared.ids import new_ulid
from shared.observability import get_logger, get_metrics, get_tracer
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from services.tickets.logic.tickets import Change
    from services.tickets.models.entities import Ticket
    from shared.events.envelope import EventMetadata

SERVICE = "tickets"
CONSUMER = "tickets.on_events"
logger = get_logger(SERVICE)
tracer = get_tracer(SERVICE)
metrics = get_metrics(SERVICE)


def retention_request(data: ChurnRiskEscalated, ticket_id: str) -> OpenRequest:
    days = (
        say("retention_days", n=data.recency_days)
        if data.recency_days is not None
        else say("retention_days_unknown")
    )
    return OpenRequest(
        ticket_id=ticket_id,
        member_id=data.member_id,
        channel="journey",
        opened_by="system",
        subject=say("retention_subject"),
        text=say("retention_text", value_level=data.value_level, days=days),
        category="inquiry",
        kind="retention_call",
        priority="high",
    )


def pseudonymise_member(
    repo: DynamoTicketsRepository,
    member_id: str,
    event_id: str,
    *,
    exports: DynamoTicketsExportPointers | None = None,
    writer: S3ExportWriter | None = None,
) -> int:
    """Every ticket of an erased member pseudonymised; their pointers, value projection and export
    parts gone; the tombstone (``ERASED#<alias>``, dal/tickets.py) refuses any new ticket for them.

    The pseudonym comes from the erasure event's id: retries give the same one, and nobody can get
    from it back to the member id. Re-runnable: erased tickets are skipped.

    The export parts (``exports``' pointers) are deleted *last*, after every ticket is saved
    pseudonymised: an export that saw one of its tickets still unerased after writing its part
    (``write_export``) wrote its pointer before that, so this sweep finds it.
    """
    pseudonym = "anon-" + hashlib.sha256(event_id.encode()).hexdigest()[:24]
    # The tombstone first: from now on no new ticket can name the member (the opening transaction
    # checks it), so the sweep below (consistent Query) sees every ticket there will ever be.
    repo.mark_member_erased(member_id)
    # Two passes: first every ticket and message, to learn the names the member gave anywhere,
    # then each ticket scrubbed of them (a name stated in one ticket is removed from all).
    conversations = []
    for ticket_id in repo.member_ticket_ids(member_id):
        ticket = repo.get(ticket_id)
        if ticket is None:
            continue
        conversations.append((ticket, repo.messages(ticket_id, include_internal=True)))
    names = member_names(conversations)
    count = 0
    for ticket, messages in conversations:
        if ticket.erased:
            continue
        after, scrubbed = pseudonymise(ticket, messages, pseudonym=pseudonym, now=clock.now(), names=names)
        repo.save_pseudonymised(ticket, after, scrubbed)
        count += 1
    repo.forget_member_tickets(member_id)
    repo.forget_member(member_id)
    if exports is not None:
        parts = exports.written(member_id)
        if parts and writer is None:
            raise RuntimeError("MEMBER_EXPORTS_BUCKET is not set: export parts cannot be erased")
        for export_id, object_key in parts.items():
            if writer is not None:
                writer.delete(object_key)  # deleting a missing object is a no-op: re-runnable
            exports.forget(member_id, export_id)
    return count


def _still_the_members(repo: DynamoTicketsRepository, member_id: str, ticket_ids: list[str]) -> bool:
    """Every ticket still un-erased and the member's (consistent reads)."""
    for ticket_id in ticket_ids:
        ticket = repo.get(ticket_id)
        if ticket is None or ticket.erased or ticket.member_id != member_id:
            return False
    return True


def write_export(
    repo: DynamoTicketsRepository,
    writer: S3ExportWriter,
    data: MemberExportRequested,
    pointers: DynamoTicketsExportPointers | None = None,
) -> str | None:
    """The member's tickets (public conversation only) as ``<prefix>tickets.json``, written so that
    an erasure racing the export leaves nothing behind (``shared.exports.write_part_guarded``);
    None when such an erasure made it delete the part again.

    The tickets themselves tell (the erasure's tombstone only refuses new tickets): the erasure saves
    each of them pseudonymised before it sweeps the export pointers. So if every exported ticket is
    still the member's after the part is written, the sweep comes later and finds the pointer.
    """
    found = []
    for ticket_id in repo.member_ticket_ids(data.member_id):
        ticket = repo.get(ticket_id)
        if ticket is not None and not ticket.erased and ticket.member_id == data.member_id:
            found.append((ticket, repo.messages(ticket_id, include_internal=False)))
    part = export_part(export_id=data.export_id, member_id=data.member_id, tickets=found, now=clock.now())
    exported = [ticket.ticket_id for ticket, _ in found]
    return write_part_guarded(
        member_id=data.member_id,
        export_id=data.export_id,
        object_prefix=data.object_prefix,
        part=part,
        holds_data=bool(found),
        writer=writer,
        pointers=pointers if pointers is not None else DynamoTicketsExportPointers(repo.table),
        erased=lambda: not _still_the_members(repo, data.member_id, exported),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(TicketsSettings)
    repo = DynamoTicketsRepository(settings.table_name)

    def on_churn(metadata: EventMetadata, data: ChurnRiskEscalated) -> None:
        now = clock.now()
        change = open_ticket(
            retention_request(data, new_ulid()), now=now, new_id=new_ulid, rules=repo.routing_rules()
        )
        change.idempotency = (metadata.event_id, CONSUMER)
        # One retention call per journey execution, even if the journey publishes twice.
        change.guards.append(
            {
                "pk": f"EXTREF#churn#{data.journey_execution_id}",
                "sk": "EXTREF",
                "ticket_id": change.after.ticket_id,
            }
        )
        try:
            repo.apply(change)
        except MemberErasedRefused:
            metrics.add_metric(name="RetentionTicketMemberErased", unit="Count", value=1)
            return
        except ConditionalCheckFailed:
            metrics.add_metric(name="RetentionTicketDuplicate", unit="Count", value=1)
            return
        metrics.add_metric(name="RetentionTicketOpened", unit="Count", value=1)

    def on_erased(metadata: EventMetadata, data: MemberErased) -> None:
        bucket = settings.member_exports_bucket
        count = pseudonymise_member(
            repo,
            data.member_id,
            metadata.event_id,
            exports=DynamoTicketsExportPointers(settings.table_name),
            writer=S3ExportWriter(bucket) if bucket else None,
        )
        logger.info("tickets pseudonymised", extra={"tickets": count})

    def on_export(metadata: EventMetadata, data: MemberExportRequested) -> None:
        if data.expires_at <= clock.now():
            logger.info("export request expired; skipped", extra={"export_id": data.export_id})
            return
        if not settings.member_exports_bucket:
            raise RuntimeError("MEMBER_EXPORTS_BUCKET is not set")
        write_export(repo, S3ExportWriter(settings.member_exports_bucket), data)
        metrics.add_metric(name="ExportPartWritten", unit="Count", value=1)

    def on_scored(metadata: EventMetadata, data: MemberProfileScored) -> None:
        repo.record_value_level(data.member_id, data.value_level, data.scored_at)

    def note_on_ticket(ticket_id: str | None, note: Callable[[Ticket], Change | None], unknown: str) -> None:
        """Loyalty's answer noted on the ticket the proposal came from (none: nothing to note)."""
        if not ticket_id:
            return
        try:
            mutate(repo, ticket_id, note)
        except TicketNotFound:
            logger.warning(unknown, extra={"ticket_id": ticket_id})

    def on_adjusted(metadata: EventMetadata, data: PointsAdjusted) -> None:
        note_on_ticket(
            data.ticket_id,
            lambda t: note_points_adjusted(
                t,
                adjustment_id=data.adjustment_id,
                points=data.points,
                approved_by=data.approved_by,
                balance_after=data.balance_after,
                now=clock.now(),
                new_id=new_ulid,
                event_id=metadata.event_id,
                consumer=CONSUMER,
            ),
            unknown="points adjustment for an unknown ticket",
        )

    def on_rejected(metadata: EventMetadata, data: PointsAdjustmentRejected) -> None:
        note_on_ticket(
            data.ticket_id,
            lambda t: note_points_rejected(
                t,
                adjustment_id=data.adjustment_id,
                points=data.points,
                rejected_by=data.rejected_by,
                rejection_reason=data.rejection_reason,
                now=clock.now(),
                new_id=new_ulid,
                event_id=metadata.event_id,
                consumer=CONSUMER,
            ),
            unknown="points rejection for an unknown ticket",
        )

    return process_event_batch(
        event,
        context,
        routes={
            "ChurnRiskEscalated": typed(ChurnRiskEscalated, on_churn),
            "MemberErased": typed(MemberErased, on_erased),
            "MemberExportRequested": typed(MemberExportRequested, on_export),
            "MemberProfileScored": typed(MemberProfileScored, on_scored),
            "PointsAdjusted": typed(PointsAdjusted, on_adjusted),
            "PointsAdjustmentRejected": typed(PointsAdjustmentRejected, on_rejected),
        },
    )


__all__ = ["CONSUMER", "handler", "pseudonymise_member", "retention_request", "write_export"]
