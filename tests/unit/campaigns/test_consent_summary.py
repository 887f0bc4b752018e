"""Dispatch reads a member's consents from one summary item (``MEMBER#<id>`` / ``CONSENTS``) that the
consent projection rebuilds from the consent items: whatever items a member has, the summary
must decide exactly what reading the items themselves decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.campaigns.dal import dispatch, privacy
from services.campaigns.models.dispatch import SendRequest

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CHANNELS = ("sms", "email", "wechat", "inbox", "app")


def _request(channels: list[str]) -> SendRequest:
    return SendRequest.model_validate(
        {
            "send_id": "cmp#c1#m1",
            "kind": "marketing",
            "campaign_id": "c1",
            "member_id": "m1",
            "channels": channels,
            "priority": 50,
            "content": {c: {"title": "t", "body": "b"} for c in channels},
            "requested_at": NOW - timedelta(minutes=1),
        }
    )


def _item(purpose: str, channel: str | None, granted: bool) -> dict[str, object]:
    return {
        "pk": "MEMBER#m1",
        "sk": privacy.consent_sk(purpose, channel),
        "entity": "consent_projection",
        "purpose": purpose,
        "channel": channel,
        "granted": granted,
    }


decisions = st.dictionaries(
    st.one_of(
        st.tuples(st.just("marketing"), st.sampled_from(CHANNELS)),
        st.tuples(st.sampled_from(["personalisation", "analytics"]), st.none()),
    ),
    st.booleans(),
    max_size=7,
)


@settings(max_examples=300, deadline=None)
@given(
    decisions,
    st.lists(st.sampled_from(["sms", "email", "wechat", "inbox"]), min_size=1, max_size=4, unique=True),
)
def test_the_summary_decides_what_the_items_decide(
    choices: dict[tuple[str, str | None], bool], channels: list[str]
) -> None:
    items = [_item(purpose, channel, granted) for (purpose, channel), granted in choices.items()]
    request = _request(channels)
    by_key = {(str(i["pk"]), str(i["sk"])): i for i in items}
    from_items = dispatch.consents_from([by_key[k] for k in dispatch.consent_keys(request) if k in by_key])
    summary = {"consents": privacy.summary_decisions(items)}
    assert dispatch.consents_from_summary(request, summary) == from_items


def test_dispatch_and_the_projection_name_the_summary_alike() -> None:
    assert dispatch.CONSENT_SUMMARY_SK == privacy.CONSENT_SUMMARY_SK
    assert dispatch.summary_key(_request(["sms"])) == tuple(privacy.consent_summary_key("m1").values())
