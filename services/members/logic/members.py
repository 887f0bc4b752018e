"""Registration, profile reads and changes, staff views: the members rules. Pure.

The logic plans writes (:class:`Put`, :class:`Delete`, :class:`UpdateProfile`,
:class:`RequireConsent`) and the repository applies each plan as one TransactWriteItems, so the
profile, its data key, every lookup key, the consents and the events stand or fall together. One
member per phone, openid, unionid, card and plate is enforced by the lookup keys' conditional puts
(``attribute_not_exists(pk)``), not by a read before the write: two registrations racing for one
phone both pass validation, and exactly one transaction commits.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from services.members.logic.consents import ConsentPlan, plan_initial
from services.members.logic.identity import (
    EMAIL_SOURCE_MEMBER,
    IdentityKind,
    ident_key,
    lookup_hash,
    normalise_card,
    normalise_email,
    normalise_phone,
    normalise_plate,
)
from services.members.logic.vault import VaultSession
from services.members.logic.views import masked_view, owner_view, plates_of
from services.members.models.api import ProfilePatch, RegistrationRequest
from shared import clock
from shared.errors import Conflict, Unprocessable
from shared.events.contracts import MemberProfileUpdated, MemberRegistered, MemberVehiclesChanged
from shared.outbox import outbox_item

__all__ = [
    "Delete",
    "MembersRepository",
    "PatchPlan",
    "Put",
    "RegistrationPlan",
    "RequireConsent",
    "UpdateProfile",
    "Write",
    "consent_sk",
    "ident_removal",
    "ident_writes",
    "masked_view",
    "member_key",
    "owner_view",
    "plan_patch",
    "plan_registration",
    "validate_birthday",
]

PRODUCER = "members.api"
MAX_AGE_YEARS = 120
CONFLICT_MESSAGES = {
    "already_registered": "This WeChat account is already a member.",
    "phone_already_registered": "This phone number is already registered.",
    "unionid_already_registered": "This WeChat account is already a member.",
    "card_already_linked": "This card is linked to another member.",
    "plate_already_linked": "This car plate is linked to another member.",
    "member_changed": "The profile changed meanwhile; read it and try again.",
    "car_plate_consent_required": "Car plates need the car-plate consent.",
    "phone_code_used": "This code was used or replaced meanwhile; ask for a new one.",
    "email_code_used": "This code was used or replaced meanwhile; ask for a new one.",
}
_IDENT_CONFLICT: dict[IdentityKind, str] = {
    "openid": "already_registered",
    "unionid": "unionid_already_registered",
    "phone": "phone_already_registered",
    "card": "card_already_linked",
    "plate": "plate_already_linked",
}


def member_key(member_id: str, sk: str) -> dict[str, str]:
    return {"pk": f"MEMBER#{member_id}", "sk": sk}


def consent_sk(purpose: str, channel: str | None) -> str:
    return f"CONSENT#{purpose}" + (f"#{channel}" if channel else "")


# --- planned writes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Put:
    """Put an item (new unless ``must_be_new`` is False); ``conflict``: the 409 code if it exists."""

    item: dict[str, Any]
    must_be_new: bool = True
    conflict: str | None = None


@dataclass(frozen=True)
class Delete:
    """Delete an item, optionally only while it is ours / still as read."""

    key: dict[str, str]
    owned_by: str | None = None  # condition member_id = owned_by (lookup keys)
    expected: dict[str, Any] | None = None  # condition: each attribute still has this value
    conflict: str | None = None  # the 409 code when ``expected`` no longer holds


@dataclass(frozen=True)
class UpdateProfile:
    """Update the profile if its version is still the one read and it is active."""

    member_id: str
    expected_version: int
    set: dict[str, Any]
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequireConsent:
    """ConditionCheck: the consent is granted."""

    member_id: str
    purpose: str
    channel: str | None = None


Write = Put | Delete | UpdateProfile | RequireConsent


@dataclass(frozen=True)
class RegistrationPlan:
    """A registration's writes and the new member as the API returns it."""

    member_id: str
    writes: list[Write]
    profile: dict[str, Any]
    opened: dict[str, str]
    consents: ConsentPlan | None = None


@dataclass(frozen=True)
class PatchPlan:
    """A profile change's writes and the profile after it."""

    writes: list[Write]
    changed_fields: list[str]
    profile: dict[str, Any]
    opened: dict[str, str]


class MembersRepository(Protocol):
    def lookup(self, kind: IdentityKind, hash_hex: str) -> str | None: ...

    def apply(
        self, writes: Sequence[Write], *, consents: ConsentPlan | None = None, correlation_id: str = ""
    ) -> None:
        """One transaction (``writes``, then the consents' items and events, written by the privacy
        slice's ``consent_write_ops``); :class:`shared.errors.Conflict` with the failed write's code."""
        ...


# --- helpers -------------------------------------------------------------------------------------


def validate_birthday(birthday: date, today: date) -> None:
    if birthday > today:
        raise Unprocessable(
            "birthday_in_future",
            "The birthday is in the future.",
            [{"field": "birthday", "message": "Must not be in the future."}],
        )
    if birthday.year < today.year - MAX_AGE_YEARS:
        raise Unprocessable(
            "birthday_implausible",
            "The birthday is not plausible.",
            [{"field": "birthday", "message": f"More than {MAX_AGE_YEARS} years ago."}],
        )


def _categories(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        v = value.strip().lower()
        if not v or len(v) > 64:
            raise Unprocessable(
                fields=[{"field": "preferred_categories", "message": "1-64 characters each."}]
            )
        if v not in out:
            out.append(v)
    return out


def _plates(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        plate = normalise_plate(value)
        if plate not in out:
            out.append(plate)
    return out


def _ident_writes(member_id: str, kind: IdentityKind, hash_hex: str, now_iso: str) -> list[Write]:
    key = ident_key(kind, hash_hex)
    return [
        Put(
            {
                "pk": key,
                "sk": "IDENT",
                "entity": "identity",
                "kind": kind,
                "member_id": member_id,
                "created_at": now_iso,
            },
            conflict=_IDENT_CONFLICT[kind],
        ),
        Put(
            {**member_key(member_id, key), "entity": "identity_ref", "kind": kind, "created_at": now_iso},
            conflict="member_changed",
        ),
    ]


def _ident_removal(member_id: str, kind: IdentityKind, hash_hex: str) -> list[Write]:
    key = ident_key(kind, hash_hex)
    return [Delete({"pk": key, "sk": "IDENT"}, owned_by=member_id), Delete(member_key(member_id, key))]


def ident_writes(member_id: str, kind: IdentityKind, hash_hex: str, now_iso: str) -> list[Write]:
    """A lookup key (``attribute_not_exists``: one member per value) and its back-reference."""
    return _ident_writes(member_id, kind, hash_hex, now_iso)


def ident_removal(member_id: str, kind: IdentityKind, hash_hex: str) -> list[Write]:
    """Delete a lookup key (only while it is this member's) and its back-reference."""
    return _ident_removal(member_id, kind, hash_hex)


def _bday(birthday: date | None) -> dict[str, Any]:
    if birthday is None:
        return {}
    return {"gsi2pk": f"BDAY#{birthday.month:02d}{birthday.day:02d}"}


# --- registration --------------------------------------------------------------------------------


def plan_registration(
    request: RegistrationRequest,
    *,
    member_id: str,
    openid_hash: str,
    unionid_hash: str | None,
    pepper: bytes,
    vault: VaultSession,
    now: datetime,
    today: date,
    correlation_id: str,
    new_id: Callable[[], str],
    phone_region: str = "CN",
) -> RegistrationPlan:
    """Validate and plan a registration (raises 422 before anything is written)."""
    phone = normalise_phone(request.phone, phone_region)
    card = normalise_card(request.card_number) if request.card_number else None
    email = normalise_email(request.email) if request.email is not None else None
    plates = _plates(request.plates)
    categories = _categories(request.preferred_categories)
    if request.birthday is not None:
        validate_birthday(request.birthday, today)
    if plates and not any(c.purpose == "car_plates" and c.granted for c in request.consents):
        raise Unprocessable(
            "car_plate_consent_required",
            CONFLICT_MESSAGES["car_plate_consent_required"],
            [{"field": "plates", "message": "Grant the car_plates consent to link plates."}],
        )

    at = clock.to_utc_iso(now)
    name = request.name.strip()
    opened: dict[str, str] = {"name": name, "phone": phone}
    if request.birthday is not None:
        opened["birthday"] = request.birthday.isoformat()
    if plates:
        opened["plates"] = json.dumps(plates, ensure_ascii=False)
    if card:
        opened["card_number"] = card
    if email:
        opened["email"] = email
    wrapped = vault.new_key(member_id)
    profile: dict[str, Any] = {
        **member_key(member_id, "PROFILE"),
        "entity": "member_profile",
        "member_id": member_id,
        "status": "active",
        "gender": request.gender,
        "preferred_store_id": request.preferred_store_id,
        "preferred_categories": categories,
        "registered_at": at,
        "updated_at": at,
        "channel": "mini_program",
        "version": 1,
        **_bday(request.birthday),
        **({"gsi2sk": member_id} if request.birthday else {}),
        **({"email_source": EMAIL_SOURCE_MEMBER} if email else {}),
        **vault.seal(member_id, opened),
    }
    writes: list[Write] = [
        Put(profile, conflict="member_changed"),
        Put(
            {
                **member_key(member_id, "DATAKEY"),
                "entity": "data_key",
                "member_id": member_id,
                "wrapped_key": base64.b64encode(wrapped).decode("ascii"),
                "encryption_context": {"member_id": member_id},
                "created_at": at,
            },
            conflict="member_changed",
        ),
    ]
    writes += _ident_writes(member_id, "openid", openid_hash, at)
    if unionid_hash:
        writes += _ident_writes(member_id, "unionid", unionid_hash, at)
    writes += _ident_writes(member_id, "phone", lookup_hash(pepper, "phone", phone), at)
    if card:
        writes += _ident_writes(member_id, "card", lookup_hash(pepper, "card", card), at)
    plate_refs = [lookup_hash(pepper, "plate", plate) for plate in plates]
    for ref in plate_refs:
        writes += _ident_writes(member_id, "plate", ref, at)
    if plate_refs:
        writes.append(
            vehicles_changed(
                member_id, linked=plate_refs, unlinked=[], now=now, correlation_id=correlation_id
            )
        )
    consents = plan_initial(member_id, request.consents, now=now, new_id=new_id)
    registered = MemberRegistered(member_id=member_id, registered_at=now, channel="mini_program")
    writes.append(Put(outbox_item(registered, correlation_id=correlation_id, producer=PRODUCER, now=now)))
    return RegistrationPlan(
        member_id=member_id, writes=writes, profile=profile, opened=opened, consents=consents
    )


# --- profile changes -----------------------------------------------------------------------------


@dataclass
class _Change:
    """What a patch changes, collected field by field."""

    set: dict[str, Any] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    sealed: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)


def plan_patch(  # noqa: PLR0912, PLR0915 - one branch per patchable field
    profile: Mapping[str, Any],
    opened: Mapping[str, str],
    patch: ProfilePatch,
    *,
    pepper: bytes,
    vault: VaultSession,
    now: datetime,
    today: date,
    correlation_id: str,
    new_id: Callable[[], str] | None = None,
) -> PatchPlan | None:
    """The writes for ``patch`` (None when nothing changes). 422 before anything is written."""
    member_id = str(profile["member_id"])
    sent = patch.model_fields_set
    change = _Change()
    at = clock.to_utc_iso(now)
    new_opened = dict(opened)

    if "name" in sent and patch.name is not None and patch.name.strip() != opened.get("name"):
        change.sealed["name"] = patch.name.strip()
        change.changed.append("name")
    if "gender" in sent and patch.gender is not None and patch.gender != profile.get("gender"):
        change.set["gender"] = patch.gender
        change.changed.append("gender")
    if (
        "birthday" in sent
        and patch.birthday is not None
        and patch.birthday.isoformat() != opened.get("birthday")
    ):
        validate_birthday(patch.birthday, today)
        change.sealed["birthday"] = patch.birthday.isoformat()
        change.set.update(_bday(patch.birthday))
        change.set["gsi2sk"] = member_id
        change.changed.append("birthday")
    if "preferred_store_id" in sent and patch.preferred_store_id != profile.get("preferred_store_id"):
        if patch.preferred_store_id is None:
            change.remove.append("preferred_store_id")
        else:
            change.set["preferred_store_id"] = patch.preferred_store_id
        change.changed.append("preferred_store_id")
    if "preferred_categories" in sent and patch.preferred_categories is not None:
        categories = _categories(patch.preferred_categories)
        if categories != list(profile.get("preferred_categories") or []):
            change.set["preferred_categories"] = categories
            change.changed.append("preferred_categories")
    if "card_number" in sent:
        old_card = opened.get("card_number")
        card = normalise_card(patch.card_number) if patch.card_number else None
        if card != old_card:
            if old_card:
                change.writes += _ident_removal(member_id, "card", lookup_hash(pepper, "card", old_card))
            if card:
                change.writes += _ident_writes(member_id, "card", lookup_hash(pepper, "card", card), at)
                change.sealed["card_number"] = card
            else:
                change.remove.append("card_number_ct")
                new_opened.pop("card_number", None)
            change.changed.append("card_number")
    if "email" in sent:
        # Not a lookup key (docs/decisions.md): no IDENT item to move, only the sealed value.
        email = normalise_email(patch.email) if patch.email is not None else None
        if email != opened.get("email"):
            if email:
                change.sealed["email"] = email
                change.set["email_source"] = EMAIL_SOURCE_MEMBER
                change.remove.append("email_verified_at")  # a new address is verified anew
            else:
                change.remove += ["email_ct", "email_source", "email_verified_at"]
                new_opened.pop("email", None)
            change.changed.append("email")
    if "plates" in sent and patch.plates is not None:
        old = plates_of(opened)
        plates = _plates(patch.plates)
        if plates != old:
            removed_refs = [lookup_hash(pepper, "plate", p) for p in old if p not in plates]
            for ref in removed_refs:
                change.writes += _ident_removal(member_id, "plate", ref)
            added = [p for p in plates if p not in old]
            added_refs = [lookup_hash(pepper, "plate", p) for p in added]
            for ref in added_refs:
                change.writes += _ident_writes(member_id, "plate", ref, at)
            if added_refs or removed_refs:  # the same plates in a new order link nothing
                change.writes.append(
                    vehicles_changed(
                        member_id,
                        linked=added_refs,
                        unlinked=removed_refs,
                        now=now,
                        correlation_id=correlation_id,
                    )
                )
            if added:
                change.writes.append(RequireConsent(member_id, "car_plates"))
            if plates:
                change.sealed["plates"] = json.dumps(plates, ensure_ascii=False)
            else:
                change.remove.append("plates_ct")
                new_opened.pop("plates", None)
            change.changed.append("plates")

    if not change.changed:
        return None
    new_opened.update(change.sealed)
    change.set.update(vault.seal(member_id, change.sealed))
    version = int(profile.get("version") or 1)
    change.set["version"] = version + 1
    change.set["updated_at"] = at
    changed = sorted(change.changed)
    event = MemberProfileUpdated(
        member_id=member_id, changed_fields=changed, updated_at=now, updated_by="member"
    )
    writes: list[Write] = [
        UpdateProfile(member_id, version, change.set, tuple(change.remove)),
        *change.writes,
        Put(outbox_item(event, correlation_id=correlation_id, producer=PRODUCER, now=now)),
    ]
    new_profile = {k: v for k, v in {**profile, **change.set}.items() if k not in change.remove}
    return PatchPlan(writes=writes, changed_fields=changed, profile=new_profile, opened=new_opened)


def vehicles_changed(
    member_id: str, *, linked: list[str], unlinked: list[str], now: datetime, correlation_id: str
) -> Put:
    """``MemberVehiclesChanged`` for loyalty's plate projection (docs/contracts/plates.md): the plates'
    lookup hashes (``vehicle_ref``), never a plate; in the transaction that links or unlinks them."""
    event = MemberVehiclesChanged(member_id=member_id, linked=linked, unlinked=unlinked, changed_at=now)
    return Put(outbox_item(event, correlation_id=correlation_id, producer=PRODUCER, now=now))


def conflict(code: str) -> Conflict:
    return Conflict(code, CONFLICT_MESSAGES.get(code, "The request conflicts with the current state."))
