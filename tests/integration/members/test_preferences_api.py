"""PUT/GET /v1/members/me/preferences on moto (contract G): each switch is the consent behind it —
a change writes the consent, a history entry and one MemberConsentChanged; switches left out and
unchanged switches write nothing; bad input writes nothing; an unknown or erased member is 404."""

from __future__ import annotations

import pytest

from services.members.handlers.routes.consents import router as consents_router
from services.members.handlers.routes.preferences import router
from shared.api import make_resolver
from tests.integration.helpers import all_items
from tests.integration.members.privacy_support import (
    MEMBER,
    OTHER,
    TABLE,
    call,
    items_with_prefix,
    member_event,
    members_env,  # noqa: F401 - fixture (used by the app fixture)
    outbox_events,
    put_profile,
)

PATH = "/v1/members/me/preferences"


@pytest.fixture
def app(members_env):  # noqa: F811 - the imported fixture
    resolver = make_resolver()
    resolver.include_router(router)
    resolver.include_router(consents_router)
    put_profile(MEMBER)
    return resolver


def put(app, body, member=MEMBER):
    return call(app, member_event("PUT", PATH, member, body))


def test_one_call_switches_personalisation_and_marketing_channels_as_consent_changes(app):
    status, body = put(
        app,
        {
            "text_version": "prefs-2026-11",
            "personalised_recommendations": True,
            "marketing": {"sms": True, "email": False, "wechat": True},
        },
    )
    assert status == 200, body
    assert body["changed"] == 4
    assert body["personalised_recommendations"] is True
    assert body["marketing"] == {"sms": True, "email": False, "wechat": True, "inbox": False}
    assert len(items_with_prefix(MEMBER, "CONSENT#")) == 4
    assert len(items_with_prefix(MEMBER, "CONSENTLOG#")) == 4
    events = sorted(
        (e["data"]["purpose"], e["data"]["channel"], e["data"]["granted"], e["data"]["text_version"])
        for e in outbox_events("MemberConsentChanged")
    )
    assert events == [
        ("marketing", "email", False, "prefs-2026-11"),
        ("marketing", "sms", True, "prefs-2026-11"),
        ("marketing", "wechat", True, "prefs-2026-11"),
        ("personalisation", None, True, "prefs-2026-11"),
    ]


def test_turning_off_withdraws_the_consent_with_history_and_one_event(app):
    put(app, {"text_version": "p-1", "personalised_recommendations": True, "marketing": {"sms": True}})
    before = len(outbox_events("MemberConsentChanged"))
    status, body = put(app, {"text_version": "p-1", "personalised_recommendations": False})
    assert status == 200, body
    assert body["changed"] == 1
    assert body["personalised_recommendations"] is False
    assert body["marketing"]["sms"] is True  # left out: unchanged
    events = outbox_events("MemberConsentChanged")
    assert len(events) == before + 1
    withdrawn = [e["data"] for e in events if e["data"]["granted"] is False]
    assert [(w["purpose"], w["channel"]) for w in withdrawn] == [("personalisation", None)]
    # the consents API shows the same state and the history (one source of truth)
    status, view = call(app, member_event("GET", "/v1/members/me/consents", MEMBER))
    assert status == 200
    latest = view["history"][0]
    assert (latest["purpose"], latest["granted"], latest["previous_granted"]) == (
        "personalisation",
        False,
        True,
    )


def test_an_unchanged_switch_writes_nothing(app):
    put(app, {"text_version": "p-1", "marketing": {"inbox": True}})
    count = len(all_items(TABLE))
    status, body = put(app, {"text_version": "p-1", "marketing": {"inbox": True}})
    assert (status, body["changed"]) == (200, 0)
    assert len(all_items(TABLE)) == count


def test_get_reads_the_switches_from_the_consents(app):
    put(app, {"text_version": "p-1", "marketing": {"email": True}})
    status, body = call(app, member_event("GET", PATH, MEMBER))
    assert status == 200, body
    assert body["marketing"] == {"sms": False, "email": True, "wechat": False, "inbox": False}
    assert body["personalised_recommendations"] is False  # never decided: off (opt-in)
    assert body["changed"] == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"text_version": "p-1"},  # no switch at all
        {"text_version": "p-1", "marketing": {}},
        {"text_version": "p-1", "marketing": {"fax": True}},
        {"text_version": "p-1", "personalised_recommendations": "yes"},
        {"personalised_recommendations": False},  # no text version
        {"text_version": "has spaces", "personalised_recommendations": False},
        {"text_version": "p-1", "personalised_recommendations": False, "extra": 1},
    ],
)
def test_bad_input_is_422_and_writes_nothing(app, bad):
    count = len(all_items(TABLE))
    status, body = put(app, bad)
    assert status == 422, body
    assert body["error"]["code"] == "validation_failed"
    assert len(all_items(TABLE)) == count


def test_unknown_or_erased_member_is_404_and_nothing_written(app):
    put_profile(OTHER, status="erased")
    count = len(all_items(TABLE))
    for member in (OTHER, "01JD0000000000000000000CCC"):
        status, body = put(app, {"text_version": "p-1", "marketing": {"sms": True}}, member=member)
        assert (status, body["error"]["code"]) == (404, "member_not_found")
        status, _ = call(app, member_event("GET", PATH, member))
        assert status == 404
    assert len(all_items(TABLE)) == count


def test_a_staff_token_or_no_member_is_refused(app):
    status, _ = call(
        app, member_event("PUT", PATH, None, {"text_version": "p-1", "marketing": {"sms": True}})
    )
    assert status in (401, 403)
