"""The contact directory: one member's address on one channel, for one send. Pure.

Campaigns never stores contact data; its dispatch asks here at send time (contract in the members
README, "Contact directory"). Answers:

* ``sms`` → the phone (E.164, from the vault's ``phone``),
* ``wechat`` → the mini-program openid (sealed in the vault as ``wechat_openid`` at login),
* ``email`` → the address the member gave (vault ``email``), only when they entered it themselves
  (``email_source = member``), confirmed it with the code sent to it (``email_verified_at``) and
  their ``marketing`` consent on ``email`` is granted now — read here, not left to campaigns'
  projection alone (docs/decisions.md, 2026-11-23).

``{"found": true, "channel", "address"}`` or ``{"found": false, "reason": "missing" | "erased" |
"channel_not_held" | "not_verified" | "not_consented"}``; a malformed request ``{"error": {"code":
"validation_failed", ...}}``.
Every answered request is audited (action ``contact_lookup``) *before* the vault is opened: no
address leaves without its audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.members.logic.audit import audit_entry
from services.members.logic.identity import EMAIL_SOURCE_MEMBER
from services.members.logic.vault import VaultSession
from services.members.models.contacts import ContactRequest
from shared.auth import Principal

__all__ = [
    "CONTACT_CALLER",
    "OPENID_ATTRIBUTE",
    "OPENID_FIELD",
    "ContactDeps",
    "ContactStore",
    "resolve_contact",
]

# Only CampaignsDispatchFunction's role may invoke the directory (template.yaml, tested in
# tests/infra): the IAM policy is what names the caller, so the audit entry names it too.
CONTACT_CALLER = Principal(kind="integration", subject="campaigns.dispatch")

# The openid is sealed like the other PII fields but is not one of vault.PII_FIELDS: the owner's
# profile, staff views and exports never show it (WeChat ids are "linked", nothing more).
OPENID_FIELD = "wechat_openid"
OPENID_ATTRIBUTE = f"{OPENID_FIELD}_ct"


class ContactStore(Protocol):
    def profile_and_key(self, member_id: str) -> tuple[dict[str, Any] | None, bytes | None]: ...

    def put_audit(self, entry: dict[str, Any]) -> None: ...

    def consent_granted(self, member_id: str, purpose: str, channel: str | None) -> bool:
        """The member's current decision (consistent read); never decided = not granted."""
        ...


@dataclass
class ContactDeps:
    store: ContactStore
    vault: VaultSession
    now: datetime
    new_id: Callable[[], str]


def _validation_error(exc: Exception) -> dict[str, Any]:
    fields: list[str] = []
    errors = getattr(exc, "errors", None)
    if callable(errors):
        fields = [".".join(str(p) for p in e.get("loc", ())) or "body" for e in errors()]
    return {
        "error": {
            "code": "validation_failed",
            "message": "member_id, channel (sms|email|wechat) and purpose are required.",
            "fields": sorted(set(fields)),
        }
    }


def _email_refusal(member_id: str, profile: Mapping[str, Any], store: ContactStore) -> str | None:
    """Why a held e-mail address is not handed out, or None: only an address the member entered
    themselves, confirmed with its code, while marketing by e-mail is granted (read here, now)."""
    if profile.get("email_source") != EMAIL_SOURCE_MEMBER:
        return "channel_not_held"
    if not profile.get("email_verified_at"):
        return "not_verified"
    if not store.consent_granted(member_id, "marketing", "email"):
        return "not_consented"
    return None


def resolve_contact(payload: Mapping[str, Any], deps: ContactDeps) -> dict[str, Any]:
    from pydantic import ValidationError  # noqa: PLC0415 - already loaded by the models

    try:
        request = ContactRequest.model_validate(dict(payload))
    except ValidationError as exc:
        return _validation_error(exc)
    profile, wrapped = deps.store.profile_and_key(request.member_id)
    deps.store.put_audit(
        audit_entry(
            member_id=request.member_id,
            actor=CONTACT_CALLER,
            action="contact_lookup",
            fields=[request.channel],
            reason=request.purpose,
            now=deps.now,
            entry_id=deps.new_id(),
        )
    )
    if profile is None:
        return {"found": False, "reason": "missing"}
    if profile.get("status") != "active" or wrapped is None:
        # The tombstone (and no data key: crypto-shredded).
        return {"found": False, "reason": "erased"}
    field_name = {"sms": "phone", "email": "email", "wechat": OPENID_FIELD}[request.channel]
    blob = profile.get(f"{field_name}_ct")
    refusal = "channel_not_held" if not isinstance(blob, str) else None
    if refusal is None and request.channel == "email":
        refusal = _email_refusal(request.member_id, profile, deps.store)
    if refusal is not None or not isinstance(blob, str):
        return {"found": False, "reason": refusal or "channel_not_held"}
    # A blob that does not open (VaultError) is a defect, not an answer: it fails the invocation.
    try:
        deps.vault.load(request.member_id, wrapped)
        address = deps.vault.open_one(request.member_id, field_name, blob)
    finally:
        deps.vault.forget()  # nothing outlives the invocation
    return {"found": True, "channel": request.channel, "address": address}
