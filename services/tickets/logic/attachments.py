"""Which uploaded objects a ticket may name as attachments.

A ticket stores object keys, not files: the client uploads first, then names the keys. Without a
check a member could attach any key of the bucket — another member's photo — and staff would open
it from the ticket. So a key must sit directly under the caller's own upload prefix:

* a member: ``uploads/members/<member_id>/<file>``;
* staff (a ticket recorded on a member's behalf, a reply): ``uploads/staff/<staff subject>/<file>``;

``<file>`` is one path segment of 1-128 characters from ``[A-Za-z0-9._-]``, not starting with a dot
(no ``..``, no sub-folders). Whoever issues the upload URLs must write under the same prefixes
(docs/decisions.md 2026-11-23, tickets attachments). The check is on the shape of the key only: the
object is not read (the bucket is not in this template yet), so a key naming nothing is kept as sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.errors import Unprocessable

__all__ = ["UPLOAD_ROOT", "check_attachments", "member_prefix", "staff_prefix"]

UPLOAD_ROOT = "uploads/"
_FILE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def member_prefix(member_id: str) -> str:
    return f"{UPLOAD_ROOT}members/{member_id}/"


def staff_prefix(subject: str) -> str:
    return f"{UPLOAD_ROOT}staff/{subject}/"


def check_attachments(keys: Sequence[str], prefix: str, *, field: str = "attachments") -> None:
    """422 ``attachment_not_allowed`` naming every key that is not a file directly under ``prefix``."""
    bad = [
        {"field": f"{field}.{i}", "message": "must be a file directly under your own upload prefix"}
        for i, key in enumerate(keys)
        if not (key.startswith(prefix) and _FILE.match(key[len(prefix) :]))
    ]
    if bad:
        raise Unprocessable(
            "attachment_not_allowed",
            f"Attachments must be files you uploaded under {UPLOAD_ROOT}…/<your id>/.",
            bad,
        )
