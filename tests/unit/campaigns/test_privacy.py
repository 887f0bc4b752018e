"""Campaigns' privacy rules: pseudonyms and the marketing-consent check."""

from __future__ import annotations

from services.campaigns.logic.privacy import check_marketing_consent, pseudonym

KEY = b"k" * 32
MEMBER = "01JD0000000000000000000AAA"


def test_pseudonyms_are_keyed_stable_and_hide_the_member_id():
    first = pseudonym(KEY, MEMBER)
    assert first == pseudonym(KEY, MEMBER)
    assert first.startswith("anon_") and len(first) == 5 + 32
    assert MEMBER not in first
    assert pseudonym(b"x" * 32, MEMBER) != first  # another service's key: not linkable
    assert pseudonym(KEY, "01JD0000000000000000000BBB") != first


class Channels:
    def __init__(self, channels):
        self.channels = channels

    def marketing_channels(self, member_id):
        return self.channels

    def store_if_newer(self, fact, erased_marker):  # pragma: no cover - not used here
        raise NotImplementedError


def test_no_granted_marketing_channel_means_no_contact():
    assert check_marketing_consent(MEMBER, Channels([])).allowed is False
    check = check_marketing_consent(MEMBER, Channels(["wechat"]))
    assert (check.allowed, check.channels) == (True, ["wechat"])
