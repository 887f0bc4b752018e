"""The contact directory's logic: one address per channel, only while the member's marketing
consent on that channel is granted (every channel, every purpose), found: false with a reason, a
validation error for a bad request, an audit entry for every answered request (before the vault
opens), and no plaintext key left in the session afterwards."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from services.members.logic.contacts import OPENID_ATTRIBUTE, OPENID_FIELD, ContactDeps, resolve_contact
from services.members.logic.vault import VaultError, VaultSession

KEY = os.urandom(32)
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"


class Keys:
    def generate(self, member_id: str) -> tuple[bytes, bytes]:
        return KEY, b"wrapped"

    def unwrap(self, member_id: str, wrapped: bytes) -> bytes:
        assert wrapped == b"wrapped"
        return KEY


ALL_GRANTED = {("marketing", "sms"): True, ("marketing", "email"): True, ("marketing", "wechat"): True}


class Store:
    """The members table as the directory reads it: ``consents`` maps (purpose, channel) to the
    stored decision (True granted, False withdrawn; absent = never decided)."""

    def __init__(
        self,
        profile: dict[str, Any] | None,
        wrapped: bytes | None = b"wrapped",
        consents: dict[tuple[str, str], bool] | None = None,
    ) -> None:
        self.profile = profile
        self.wrapped = wrapped
        self.consents = ALL_GRANTED if consents is None else consents
        self.audit: list[dict[str, Any]] = []
        self.reads: list[tuple[str, str]] = []

    def contact_facts(
        self, member_id: str, purpose: str, channel: str
    ) -> tuple[dict[str, Any] | None, bytes | None, bool]:
        self.reads.append((purpose, channel))
        return self.profile, self.wrapped, self.consents.get((purpose, channel)) is True

    def put_audit(self, entry: dict[str, Any]) -> None:
        self.audit.append(entry)


def sealed_profile(**extra: str) -> dict[str, Any]:
    vault = VaultSession(Keys())
    vault.new_key(MEMBER)
    profile: dict[str, Any] = {
        "status": "active",
        **vault.seal(MEMBER, {"phone": "+8613812341234", "name": "张三"}),
    }
    profile[OPENID_ATTRIBUTE] = vault.seal_one(MEMBER, OPENID_FIELD, "o-openid-1")
    profile.update(extra)
    return profile


def ask(store: Store, vault: VaultSession | None = None, **payload: Any) -> dict[str, Any]:
    body = {"member_id": MEMBER, "channel": "sms", "purpose": "cmp#C1#" + MEMBER, **payload}
    deps = ContactDeps(store=store, vault=vault or VaultSession(Keys()), now=NOW, new_id=lambda: "01AUDIT")
    return resolve_contact(body, deps)


def test_sms_gets_the_phone_in_e164_and_the_read_is_audited() -> None:
    store = Store(sealed_profile())
    vault = VaultSession(Keys())
    assert ask(store, vault) == {"found": True, "channel": "sms", "address": "+8613812341234"}
    assert store.audit == [
        {
            "pk": f"AUDIT#{MEMBER}",
            "sk": "2026-11-23T01:00:00.000000Z#01AUDIT",
            "entity": "audit",
            "member_id": MEMBER,
            "actor_kind": "integration",
            "actor_sub": "campaigns.dispatch",
            "actor_roles": None,
            "action": "contact_lookup",
            "fields": ["sms"],
            "reason": "cmp#C1#" + MEMBER,
            "at": "2026-11-23T01:00:00.000000Z",
        }
    ]
    assert vault._plain == {}  # the data key does not outlive the request


def test_wechat_gets_the_sealed_openid() -> None:
    assert ask(Store(sealed_profile()), channel="wechat") == {
        "found": True,
        "channel": "wechat",
        "address": "o-openid-1",
    }


def test_email_not_given_is_not_held() -> None:
    store = Store(sealed_profile())
    assert ask(store, channel="email") == {"found": False, "reason": "channel_not_held"}
    assert [e["fields"] for e in store.audit] == [["email"]]


def email_profile(source: str | None = "member", verified: bool = True) -> dict[str, Any]:
    vault = VaultSession(Keys())
    vault.new_key(MEMBER)
    profile = sealed_profile(**vault.seal(MEMBER, {"email": "Zhang.San@example.com"}))
    if source is not None:
        profile["email_source"] = source
    if verified:
        profile["email_verified_at"] = "2026-11-22T08:00:00.000000Z"
    return profile


def test_email_given_by_the_member_with_marketing_consent_is_answered() -> None:
    store = Store(email_profile(), consents={("marketing", "email"): True})
    vault = VaultSession(Keys())
    answer = ask(store, vault, channel="email")
    assert answer == {"found": True, "channel": "email", "address": "Zhang.San@example.com"}
    assert store.reads == [("marketing", "email")]  # the source of truth, not a projection
    assert [e["fields"] for e in store.audit] == [["email"]]
    assert "Zhang" not in json.dumps(store.audit)
    assert vault._plain == {}


def test_email_without_the_marketing_email_consent_is_not_answered() -> None:
    # Consent on another channel is not consent by e-mail.
    store = Store(email_profile(), consents={("marketing", "sms"): True})
    vault = VaultSession(Keys())
    assert ask(store, vault, channel="email") == {"found": False, "reason": "not_consented"}
    assert len(store.audit) == 1 and vault._plain == {}


def test_an_unverified_address_is_not_handed_out_even_with_consent() -> None:
    store = Store(email_profile(verified=False))
    vault = VaultSession(Keys())
    assert ask(store, vault, channel="email") == {"found": False, "reason": "not_verified"}
    assert len(store.audit) == 1 and vault._plain == {}


@pytest.mark.parametrize("source", [None, "staff", "import"])
def test_an_address_the_member_did_not_enter_is_not_handed_out(source: str | None) -> None:
    store = Store(email_profile(source))
    assert ask(store, channel="email") == {"found": False, "reason": "channel_not_held"}


def test_each_channel_reads_its_own_consent_only() -> None:
    # Marketing by e-mail granted, by SMS never decided: the SMS lookup is refused.
    store = Store(email_profile(), consents={("marketing", "email"): True})
    assert ask(store) == {"found": False, "reason": "not_consented"}
    assert store.reads == [("marketing", "sms")]


ADDRESSES = {"sms": "+8613812341234", "email": "Zhang.San@example.com", "wechat": "o-openid-1"}
PURPOSES = {
    "campaign (marketing)": "cmp#C1#" + MEMBER,
    "journey (marketing)": "jrn#birthday#" + MEMBER + "#2026",
    "ticket reply (transactional)": "ntf#01HTICKETREPLY0000000000",
}
DECISIONS = {"granted": True, "withdrawn": False, "never decided": None}


@pytest.mark.parametrize("channel", ["sms", "email", "wechat"])
@pytest.mark.parametrize("decision", DECISIONS)
@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_channel_and_purpose_needs_the_channels_marketing_consent_now(
    channel: str, decision: str, purpose: str
) -> None:
    """Marketing (cmp#, jrn#) and transactional (ntf#: a ticket reply) alike: the only per-channel
    contact consent members records is marketing on the channel, and transactional messages use it
    (docs/decisions.md); campaigns falls back to the inbox. Every other channel's consent is
    granted here, so only the asked channel's decision can make the difference."""
    consents = {key: True for key in ALL_GRANTED if key != ("marketing", channel)}
    if DECISIONS[decision] is not None:
        consents["marketing", channel] = bool(DECISIONS[decision])
    store = Store(email_profile(), consents=consents)
    vault = VaultSession(Keys())

    answer = ask(store, vault, channel=channel, purpose=PURPOSES[purpose])

    if decision == "granted":
        assert answer == {"found": True, "channel": channel, "address": ADDRESSES[channel]}
    else:
        assert answer == {"found": False, "reason": "not_consented"}
    assert store.reads == [("marketing", channel)]  # one read, the member's consent item itself
    [entry] = store.audit  # audited either way, with the purpose as given
    assert entry["reason"] == PURPOSES[purpose] and entry["fields"] == [channel]
    assert vault._plain == {}


class NoUnwrap(Keys):
    def unwrap(self, member_id: str, wrapped: bytes) -> bytes:
        raise AssertionError("the data key was unwrapped for an address that is not handed out")


@pytest.mark.parametrize("channel", ["sms", "email", "wechat"])
def test_without_consent_the_vault_is_never_opened(channel: str) -> None:
    store = Store(email_profile(), consents={})
    assert ask(store, VaultSession(NoUnwrap()), channel=channel) == {
        "found": False,
        "reason": "not_consented",
    }


def test_a_purpose_campaigns_does_not_send_still_needs_the_consent() -> None:
    # The purpose is free text for the audit; it never loosens the rule (fails closed).
    store = Store(sealed_profile(), consents={})
    assert ask(store, purpose="verification") == {"found": False, "reason": "not_consented"}
    granted = Store(sealed_profile())
    assert ask(granted, purpose="verification")["found"] is True


def test_wechat_before_the_openid_was_sealed_is_not_held() -> None:
    profile = sealed_profile()
    del profile[OPENID_ATTRIBUTE]
    assert ask(Store(profile), channel="wechat") == {"found": False, "reason": "channel_not_held"}


@pytest.mark.parametrize(
    ("profile", "wrapped", "reason"),
    [
        (None, None, "missing"),
        ({"status": "erased", "erased_at": "2026-11-01T00:00:00Z"}, None, "erased"),
        # A tombstone written while a stale data key read raced the erasure still answers erased.
        ({"status": "erased"}, b"wrapped", "erased"),
    ],
)
def test_missing_and_erased_members(
    profile: dict[str, Any] | None, wrapped: bytes | None, reason: str
) -> None:
    store = Store(profile, wrapped)
    assert ask(store) == {"found": False, "reason": reason}
    assert len(store.audit) == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"channel": "inbox"}, "channel"),
        ({"channel": "fax"}, "channel"),
        ({"purpose": ""}, "purpose"),
        ({"member_id": "../etc"}, "member_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_a_malformed_request_is_refused_without_reading_or_auditing(
    payload: dict[str, Any], field: str
) -> None:
    store = Store(sealed_profile())
    answer = ask(store, **payload)
    assert answer["error"]["code"] == "validation_failed"
    assert field in answer["error"]["fields"]
    assert store.reads == [] and store.audit == []


def test_a_blob_that_does_not_open_fails_the_invocation_and_forgets_the_key() -> None:
    profile = sealed_profile()
    profile["phone_ct"] = profile["name_ct"]  # another field's blob: bound to "name", must not open
    vault = VaultSession(Keys())
    with pytest.raises(VaultError):
        ask(Store(profile), vault)
    assert vault._plain == {}


def test_the_audit_entry_is_written_before_the_vault_is_opened() -> None:
    class FailingAudit(Store):
        def put_audit(self, entry: dict[str, Any]) -> None:
            raise RuntimeError("DynamoDB down")

    with pytest.raises(RuntimeError, match="DynamoDB down"):
        ask(FailingAudit(sealed_profile()), VaultSession(NoUnwrap()))
