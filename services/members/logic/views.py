"""The member as the API shows it: the owner's clear view and staff's masked view. Pure.

Apart from :mod:`services.members.logic.members` (registration and changes) so that the read routes
do not import the write planning (cold start).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from services.members.logic.identity import (
    mask_birthday,
    mask_card,
    mask_member_email,
    mask_member_name,
    mask_member_phone,
    mask_plate,
)
from services.members.models.api import MaskedMember, MemberOut


def plates_of(opened: Mapping[str, str]) -> list[str]:
    raw = opened.get("plates")
    return [str(p) for p in json.loads(raw)] if raw else []


def owner_view(profile: Mapping[str, Any], opened: Mapping[str, str]) -> MemberOut:
    birthday = opened.get("birthday")
    return MemberOut(
        member_id=str(profile["member_id"]),
        status=str(profile["status"]),
        name=opened.get("name"),
        phone=opened.get("phone"),
        gender=str(profile.get("gender") or "undisclosed"),
        birthday=date.fromisoformat(birthday) if birthday else None,
        preferred_store_id=profile.get("preferred_store_id"),
        preferred_categories=list(profile.get("preferred_categories") or []),
        card_number=opened.get("card_number"),
        plates=plates_of(opened),
        email=opened.get("email"),
        email_verified=bool(opened.get("email") and profile.get("email_verified_at")),
        registered_at=str(profile["registered_at"]),
        channel=str(profile.get("channel") or "mini_program"),
    )


def masked_view(profile: Mapping[str, Any], opened: Mapping[str, str]) -> MaskedMember:
    birthday = opened.get("birthday")
    return MaskedMember(
        member_id=str(profile["member_id"]),
        status=str(profile["status"]),
        name=mask_member_name(opened["name"]) if opened.get("name") else None,
        phone=mask_member_phone(opened["phone"]) if opened.get("phone") else None,
        gender=str(profile.get("gender") or "undisclosed"),
        birthday=mask_birthday(date.fromisoformat(birthday)) if birthday else None,
        card_number=mask_card(opened["card_number"]) if opened.get("card_number") else None,
        plates=[mask_plate(p) for p in plates_of(opened)],
        email=mask_member_email(opened["email"]) if opened.get("email") else None,
        email_verified=bool(opened.get("email") and profile.get("email_verified_at")),
        preferred_store_id=profile.get("preferred_store_id"),
        registered_at=str(profile["registered_at"]),
    )
