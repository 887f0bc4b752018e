"""The contact directory: one member's address on one channel, for one send. Pure.

Campaigns never stores contact data; its dispatch asks here at send time (contract in the members
README, "Contact directory", and docs/contracts/contacts.md). Answers:

* ``sms`` → the phone (E.164, from the vault's ``phone``),
* ``wechat`` → the mini-program openid (sealed in the vault as ``wechat_openid`` at login),
* ``email`` → the address the member gave (vault ``email``), only when they entered it themselves
  (``email_source = member``) and confirmed it with the code sent to it (``email_verified_at``),

and on every channel only while the member's ``marketing`` consent on that channel is granted in
members now (a consistent read of the consent item, in the same BatchGetItem as the profile):
privacy is enforced where the data lives, not left to campaigns' consent projection, which lags by
the event delivery time (docs/decisions.md, 2026-11-23). Whatever the purpose: a marketing send
(``cmp#…``, ``jrn#…``) and a transactional one (``ntf#…``: a ticket reply) alike, because that
per-channel consent is the only contact consent members records and transactional messages use it
(docs/decisions.md, "Transactional notifications use the marketing channel consents"; campaigns
falls back to the in-app inbox). Members' own verification codes never come here: they go to the
number or address being verified, from members (``dal/sms.py``, ``dal/email.py``).

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
    "CONTACT_CONSENT",
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

# The consent that lets a channel be used to reach the member, whatever the purpose (module doc).
CONTACT_CONSENT = "marketing"

# The vault field holding each channel's address (``<field>_ct`` in the profile).
_FIELDS = {"sms": "phone", "email": "email", "wechat": OPENID_FIELD}


class ContactStore(Protocol):
    def contact_facts(
        self, member_id: str, purpose: str, channel: str
    ) -> tuple[dict[str, Any] | None, bytes | None, bool]:
        """Profile, wrapped data key and the member's current decision on consent ``purpose``
        on ``channel`` (consistent reads; never decided = not granted)."""
        ...

    def put_audit(self, entry: dict[str, Any]) -> None: ...


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


def _refusal(channel: str, profile: Mapping[str, Any], consented: bool) -> str | None:
    """Why the address is not handed out, or None. Holding it comes first (an address the member
    did not give or confirm is not theirs to consent for), then the consent."""
    field_name = _FIELDS[channel]
    if not isinstance(profile.get(f"{field_name}_ct"), str):
        return "channel_not_held"
    if channel == "email":
        if profile.get("email_source") != EMAIL_SOURCE_MEMBER:
            return "channel_not_held"
        if not profile.get("email_verified_at"):
            return "not_verified"
    if not consented:
        return "not_consented"
    return None


def resolve_contact(payload: Mapping[str, Any], deps: ContactDeps) -> dict[str, Any]:
    from pydantic import ValidationError  # noqa: PLC0415 - already loaded by the models

    try:
        request = ContactRequest.model_validate(dict(payload))
    except ValidationError as exc:
        return _validation_error(exc)
    profile, wrapped, consented = deps.store.contact_facts(
        request.member_id, CONTACT_CONSENT, request.channel
    )
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
    refusal = _refusal(request.channel, profile, consented)
    if refusal is not None:
        return {"found": False, "reason": refusal}
    field_name = _FIELDS[request.channel]
    # A blob that does not open (VaultError) is a defect, not an answer: it fails the invocation.
    try:
        deps.vault.load(request.member_id, wrapped)
        address = deps.vault.open_one(request.member_id, field_name, str(profile[f"{field_name}_ct"]))
    finally:
        deps.vault.forget()  # nothing outlives the invocation
    return {"found": True, "channel": request.channel, "address": address}
