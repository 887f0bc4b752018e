"""The tickets part of a member's data export (PIPL Art. 45; docs/contracts/export.md's contract):
every ticket the member opened, with what they and the desk wrote to each other.

Internal notes are left out: they are the desk's working notes (often about other people — the
store, the staff member complained about), and their substance reaches the member through the
replies. Classification details stay out for the same reason; the category and status the member
sees are in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.tickets.models.entities import Message, Ticket
from shared import clock

__all__ = ["FORMAT", "export_part"]

FORMAT = "mallcrm.member-export-part.v1"


def _iso(value: datetime | None) -> str | None:
    return clock.to_utc_iso(value) if value is not None else None


def export_part(
    *, export_id: str, member_id: str, tickets: Sequence[tuple[Ticket, Sequence[Message]]], now: datetime
) -> dict[str, Any]:
    items = []
    for ticket, messages in tickets:
        items.append(
            {
                "ticket_id": ticket.ticket_id,
                "opened_at": _iso(ticket.opened_at),
                "channel": ticket.channel,
                "category": ticket.category,
                "status": ticket.status,
                "subject": ticket.subject,
                "description": ticket.description,
                "store_id": ticket.store_id,
                "purchase_ref": ticket.purchase_ref,
                "coupon_ref": ticket.coupon_ref,
                "attachments": list(ticket.attachments),
                "resolved_at": _iso(ticket.resolved_at),
                "resolution": ticket.resolution,
                "survey": ticket.survey,
                "messages": [
                    {
                        "from": "you"
                        if m.author_kind == "member"
                        else ("service desk" if m.author_kind == "staff" else "system"),
                        "at": _iso(m.created_at),
                        "text": m.body,
                        "attachments": list(m.attachments),
                    }
                    for m in messages
                    if m.visibility == "public"
                ],
            }
        )
    return {
        "format": FORMAT,
        "service": "tickets",
        "export_id": export_id,
        "member_id": member_id,
        "generated_at": clock.to_utc_iso(now),
        "data": {"tickets": items} if items else None,
        **({} if items else {"note": "no data"}),
    }
