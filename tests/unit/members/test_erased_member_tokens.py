"""An erased member's tokens are void (pure): the authorizer's decision on the profile it read, and
the erasure tombstone's own revocation time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.members.logic.privacy import plan_erasure
from services.members.logic.tokens import is_revoked, token_refusal

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01JD0000000000000000000AAA"
ISSUED = int(NOW.timestamp()) - 60


def test_an_active_members_token_passes_unless_revoked() -> None:
    assert token_refusal(ISSUED, status="active", tokens_valid_after=None) is None
    assert token_refusal(ISSUED, status="active", tokens_valid_after=ISSUED - 1) is None
    assert token_refusal(ISSUED, status="active", tokens_valid_after=ISSUED) == "token_revoked"


@pytest.mark.parametrize("valid_after", [None, ISSUED - 3600, ISSUED + 3600])
def test_an_erased_members_token_is_refused_whenever_it_was_issued(valid_after: int | None) -> None:
    # The bug: the tombstone replaced the profile without tokens_valid_after, so only the
    # revocation time was read, found missing, and the token passed.
    assert token_refusal(ISSUED, status="erased", tokens_valid_after=valid_after) == "member_erased"


def test_a_token_naming_a_member_without_a_profile_is_refused() -> None:
    assert token_refusal(ISSUED, status=None, tokens_valid_after=None) == "member_not_found"


def test_the_erasure_tombstone_voids_every_token_issued_up_to_the_erasure() -> None:
    plan = plan_erasure(MEMBER, identity_refs=[], consent_sks=[], now=NOW)
    valid_after = plan.tombstone["tokens_valid_after"]
    assert valid_after == int(NOW.timestamp())
    # even a reader of the revocation time alone refuses every earlier token
    assert is_revoked(ISSUED, valid_after) and is_revoked(int(NOW.timestamp()), valid_after)
    assert token_refusal(ISSUED, status=plan.tombstone["status"], tokens_valid_after=valid_after) == (
        "member_erased"
    )
