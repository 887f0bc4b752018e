"""Export and erasure of a member's data (PIPL Art. 45 and 47). Pure.

**Export** (``POST /v1/members/me/export``): the member's own data as JSON, synchronously (a few
items and one data key at this size): the profile in clear (the owner may read it), the linked
identities (phone, card and plates in clear; the WeChat openid/unionid are held only as keyed
hashes, so the export says they are linked and since when), the consents with their history, and
the behaviour statistics with the last score and its inputs. Loyalty (points, coupons) and
tickets will add their parts through an ``MemberDataExportRequested`` event and a download link in
a later issue; ``other_services`` says so in the document.

**Erasure** (``DELETE /v1/members/me``), planned by :func:`plan_erasure`:

1. one transaction: the profile is replaced by a tombstone (``status = erased``, ``erased_at``; no
   PII ciphertext, no gender/preferences, no birthday index), the DATAKEY item is deleted
   (crypto-shredding: every copy of every sealed field, in backups and PITR too, is unreadable),
   ``MemberErased`` goes to the outbox, and — as far as 100 items allow — every lookup key, its
   back-reference and the current consents are deleted. So the member can no longer be found by
   phone/openid/card/plate the moment the erasure commits;
2. then, outside the transaction (idempotent, re-run by a repeated DELETE): whatever lookups did
   not fit, and the consent history, are deleted; the statistics leave the nightly scoring index.

Consents: the current consents and their history are deleted, not kept under a pseudonym — after
erasure nothing may be processed for the member, no law sets a retention period for consent
evidence, and data minimisation (PIPL Art. 6, 19, 47) wins; the tombstone keeps only how many
history entries were deleted. Statistics keyed by the member id stay (pseudonymous once the id
links to no one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared import clock
from shared.events.contracts import MemberErased, MemberVehiclesChanged

MAX_TRANSACTION_ITEMS = 100
EXPORT_FORMAT = "mallcrm.member-export.v1"
OTHER_SERVICES_NOTE = (
    "Loyalty (purchases, points, coupons) and tickets add their parts through an event and a "
    "download link in a later release; campaigns holds only consent copies and journey outcomes."
)
_STATS_FIELDS = (
    "first_purchase_at",
    "last_purchase_at",
    "purchase_count",
    "spend_cents",
    "refund_count",
    "refunded_cents",
    "category_spend_cents",
    "store_purchase_count",
)


# --- export ------------------------------------------------------------------------------------


def _identity(ref: Mapping[str, Any], opened: Mapping[str, str]) -> dict[str, Any]:
    kind = str(ref.get("kind") or str(ref["sk"]).split("#")[1])
    entry: dict[str, Any] = {"kind": kind, "linked_at": ref.get("created_at")}
    if kind == "phone":
        entry["value"] = opened.get("phone")
    elif kind == "card":
        entry["value"] = opened.get("card_number")
    elif kind in ("openid", "unionid"):
        entry["value"] = None
        entry["note"] = "WeChat account linked; MallCRM keeps only a keyed hash of the identifier."
    return entry


def build_export(
    *,
    member_id: str,
    profile: Mapping[str, Any],
    opened: Mapping[str, str],
    identity_refs: Sequence[Mapping[str, Any]],
    consents: Sequence[Mapping[str, Any]],
    consent_history: Sequence[Mapping[str, Any]],
    stats: Mapping[str, Any] | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """The export document (JSON-ready)."""
    plates = json.loads(opened["plates"]) if opened.get("plates") else []
    identities = [_identity(ref, opened) for ref in identity_refs if ref.get("kind") != "plate"]
    linked = {str(r.get("created_at")) for r in identity_refs if r.get("kind") == "plate"}
    identities += [
        {"kind": "plate", "value": plate, "linked_at": min(linked) if linked else None} for plate in plates
    ]
    birthday = opened.get("birthday")
    return {
        "format": EXPORT_FORMAT,
        "generated_at": clock.to_utc_iso(generated_at),
        "member_id": member_id,
        "profile": {
            "name": opened.get("name"),
            "phone": opened.get("phone"),
            "email": opened.get("email"),
            "birthday": birthday,
            "gender": profile.get("gender"),
            "preferred_store_id": profile.get("preferred_store_id"),
            "preferred_categories": list(profile.get("preferred_categories") or []),
            "card_number": opened.get("card_number"),
            "plates": plates,
            "registered_at": profile.get("registered_at"),
            "channel": profile.get("channel"),
            "status": profile.get("status"),
        },
        "identities": identities,
        "consents": [dict(c) for c in consents],
        "consent_history": [dict(h) for h in consent_history],
        "statistics": {name: stats.get(name) for name in _STATS_FIELDS} if stats else None,
        "score": dict(stats["score"]) if stats and stats.get("score") else None,
        "other_services": OTHER_SERVICES_NOTE,
    }


# --- erasure -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasurePlan:
    """The erasure transaction's writes and what is deleted after it."""

    member_id: str
    tombstone: dict[str, Any]
    event: MemberErased
    in_transaction: list[dict[str, str]]
    """Keys deleted inside the transaction (data key first, then lookups, back-refs, consents)."""
    lookups_in_transaction: list[dict[str, str]]
    """The subset of ``in_transaction`` that are lookup keys (deleted only if still this member's)."""
    afterwards: list[dict[str, str]] = field(default_factory=list)
    """Keys deleted after the transaction (did not fit; the consent history is added by the caller)."""
    audit: dict[str, Any] | None = None
    """A staff erasure's audit entry, written in the same transaction (no erasure without it)."""
    vehicles: MemberVehiclesChanged | None = None
    """The plates unlinked by the erasure (loyalty's plate projection), in the same transaction."""


def member_key(member_id: str, sk: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": sk}


def plan_erasure(
    member_id: str,
    *,
    identity_refs: Sequence[Mapping[str, Any]],
    consent_sks: Sequence[str],
    now: datetime,
    requested_by: Literal["member", "staff"] = "member",
    history_entries: int = 0,
    audit: dict[str, Any] | None = None,
) -> ErasurePlan:
    """The erasure's writes (see the module doc). The profile tombstone, the outbox item and the
    data key take three of the transaction's 100 items; lookups go before consents so that the
    member cannot be resolved any more once the transaction commits."""
    at = clock.to_utc_iso(now)
    tombstone = {
        **member_key(member_id, "PROFILE"),
        "entity": "member_profile",
        "member_id": member_id,
        "status": "erased",
        "erased_at": at,
        "erased_by": requested_by,
        "consent_history_deleted": history_entries,
        # Every token issued up to the erasure is void (the authorizer also refuses any token of a
        # member whose status is not active; this holds for a reader of tokens_valid_after alone).
        "tokens_valid_after": int(now.timestamp()),
    }
    deletes: list[dict[str, str]] = [member_key(member_id, "DATAKEY")]
    lookups: list[dict[str, str]] = []
    for ref in identity_refs:
        lookup = {"pk": str(ref["sk"]), "sk": "IDENT"}
        lookups.append(lookup)
        deletes += [lookup, member_key(member_id, str(ref["sk"]))]
    deletes += [member_key(member_id, sk) for sk in consent_sks]
    plate_refs = [
        str(r["sk"]).removeprefix("IDENT#plate#")
        for r in identity_refs
        if str(r["sk"]).startswith("IDENT#plate#")
    ]
    vehicles = (
        MemberVehiclesChanged(member_id=member_id, linked=[], unlinked=plate_refs, changed_at=now)
        if plate_refs
        else None
    )
    # the tombstone and outbox Puts (and the audit entry, the vehicles event)
    room = MAX_TRANSACTION_ITEMS - 2 - (1 if audit else 0) - (1 if vehicles else 0)
    inside, later = deletes[:room], deletes[room:]
    return ErasurePlan(
        member_id=member_id,
        tombstone=tombstone,
        event=MemberErased(member_id=member_id, erased_at=now, requested_by=requested_by),
        in_transaction=inside,
        lookups_in_transaction=[k for k in lookups if k in inside],
        afterwards=later,
        audit=audit,
        vehicles=vehicles,
    )
