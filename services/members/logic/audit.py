"""The members audit log: one append-only entry per staff action on a member's personal data, and
per service access (``contact_lookup``: campaigns' dispatch reading an address to send to). Pure.

Item ``AUDIT#<member_id>`` / ``<iso_ts>#<ulid>``: who (staff ``sub`` and roles, or the calling
service as an ``integration`` principal), what (``action``),
which fields, why (``reason``), when. Never a value: an entry says "revealed phone", not the phone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from shared import clock
from shared.auth import Principal

__all__ = ["AuditAction", "audit_entry"]

AuditAction = Literal["reveal", "search", "view", "verify_code", "erase", "revoke_tokens", "contact_lookup"]


def audit_entry(
    *,
    member_id: str,
    actor: Principal,
    action: AuditAction,
    fields: Iterable[str],
    reason: str | None,
    now: datetime,
    entry_id: str,
) -> dict[str, Any]:
    at = clock.to_utc_iso(now)
    return {
        "pk": f"AUDIT#{member_id}",
        "sk": f"{at}#{entry_id}",
        "entity": "audit",
        "member_id": member_id,
        "actor_kind": actor.kind,
        "actor_sub": actor.subject,
        "actor_roles": sorted(actor.roles) or None,
        "action": action,
        "fields": sorted(set(fields)) or None,
        "reason": reason,
        "at": at,
    }
