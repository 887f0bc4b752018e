"""The member's data export across services (PIPL Art. 45), event-driven. Pure.

``POST /v1/members/me/export`` answers members' own part at once (profile, identities, consents,
statistics: :func:`services.members.logic.privacy.build_export`) and records an export request —
item ``MEMBER#<id>`` / ``EXPORT#<export_id>`` and ``MemberExportRequested`` in one transaction. Each
service that holds data of the member (loyalty: purchases, points, coupons; tickets: requests and
messages; campaigns: messages sent, inbox, journey outcomes) consumes the event and writes its part
as ``exports/<export_id>/<service>.json`` into the members' export bucket. ``GET
/v1/members/me/exports/{export_id}`` lists that prefix (S3 ListObjectsV2 — no table scan) and gives
a short-lived download link per part that is there, and says which are still missing. Members'
own part is rebuilt on every GET (fresh, never stored). Objects live 7 days (bucket lifecycle);
erasure deletes the member's export objects and requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import clock
from shared.events.contracts import MemberExportRequested

EXPORT_TTL = timedelta(days=7)
EXPORT_PREFIX = "EXPORT#"


def object_prefix(export_id: str) -> str:
    return f"exports/{export_id}/"


@dataclass(frozen=True)
class ExportRequest:
    """The export request item and its event, written together."""

    item: dict[str, Any]
    event: MemberExportRequested


def plan_export_request(
    member_id: str, export_id: str, *, now: datetime, expected_parts: Sequence[str]
) -> ExportRequest:
    expires = now + EXPORT_TTL
    item = {
        "pk": f"MEMBER#{member_id}",
        "sk": f"{EXPORT_PREFIX}{export_id}",
        "entity": "export_request",
        "member_id": member_id,
        "export_id": export_id,
        "requested_at": clock.to_utc_iso(now),
        "expires_at": clock.to_utc_iso(expires),
        "expected_parts": list(expected_parts),
        "ttl": clock.epoch_seconds(expires),
    }
    event = MemberExportRequested(
        export_id=export_id,
        member_id=member_id,
        requested_at=now,
        object_prefix=object_prefix(export_id),
        expires_at=expires,
    )
    return ExportRequest(item=item, event=event)


def part_name(key: str, export_id: str) -> str | None:
    """``loyalty`` for ``exports/<id>/loyalty.json``; None for anything else under the prefix."""
    rest = key.removeprefix(object_prefix(export_id))
    if rest == key or "/" in rest or not rest.endswith(".json"):
        return None
    return rest.removesuffix(".json") or None


def export_status(expected: Iterable[str], present: Iterable[str]) -> tuple[str, list[str]]:
    """("complete" | "partial", the expected parts still missing)."""
    have = set(present)
    missing = [p for p in expected if p not in have]
    return ("partial" if missing else "complete"), missing
