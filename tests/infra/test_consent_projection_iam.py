"""Every function that stores a consent decision in campaigns' projection (``store_if_newer``, which
rebuilds the member's consent summary) may make each call that takes: the tombstone check and the
conditional Puts, the summary's GetItem and the Query of the member's consent items — on the
campaigns table. Checked on the SAM-translated template (what is deployed); the local cloud does
not enforce IAM, so a missing action would first show on AWS."""

from __future__ import annotations

import pytest

from tests.infra.template_loader import action_allows, cfn_resources, role_of, role_statements

WRITERS = (
    "CampaignsOnMemberPrivacyFunction",  # MemberConsentChanged
    "CampaignsOnChannelReceiptsFunction",  # an e-mail complaint's refusal
)
CALLS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:ConditionCheckItem")


@pytest.mark.parametrize("function", WRITERS)
@pytest.mark.parametrize("action", CALLS)
def test_a_consent_writer_may_rebuild_the_summary(function: str, action: str) -> None:
    cfn = cfn_resources()
    role = role_of(cfn, function)
    assert role
    granted = [
        s
        for s in role_statements(cfn, role)
        if s.effect == "Allow" and any(action_allows(a, action) for a in s.actions)
    ]
    assert any("CampaignsTable" in repr(s.resources) for s in granted), (function, action)
