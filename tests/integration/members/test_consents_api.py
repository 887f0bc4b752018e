"""PUT/GET /v1/members/me/consents on moto: one transaction per change set, no-ops write nothing,
bad input writes nothing, and an erased or unknown member gets 404."""

from __future__ import annotations

import pytest

from services.members.handlers.routes.consents import router
from shared.api import make_resolver
from tests.integration.helpers import all_items
from tests.integration.members.privacy_support import (
    MEMBER,
    TABLE,
    call,
    items_with_prefix,
    member_event,
    members_env,  # noqa: F401 - fixture (used by the app fixture)
    outbox_events,
    put_profile,
)

PATH = "/v1/members/me/consents"


@pytest.fixture
def app(members_env):  # noqa: F811 - the imported fixture
    resolver = make_resolver()
    resolver.include_router(router)
    put_profile(MEMBER)
    return resolver


def put(app, consents, member=MEMBER):
    return call(app, member_event("PUT", PATH, member, {"consents": consents}))


def sms(granted=True, text_version="mkt-2026-11"):
    return {"purpose": "marketing", "channel": "sms", "granted": granted, "text_version": text_version}


def test_granting_writes_current_item_history_and_one_event_per_change(app):
    status, body = put(app, [sms(), {"purpose": "personalisation", "granted": True, "text_version": "p-1"}])
    assert status == 200, body
    assert body["changed"] == 2
    granted = {(c["purpose"], c["channel"]): c["granted"] for c in body["consents"]}
    assert granted[("marketing", "sms")] is True
    assert granted[("marketing", "email")] is False  # never decided: not granted (opt-in)
    assert len(granted) == 8
    assert len(items_with_prefix(MEMBER, "CONSENT#")) == 2
    assert len(items_with_prefix(MEMBER, "CONSENTLOG#")) == 2
    events = outbox_events("MemberConsentChanged")
    assert sorted((e["data"]["purpose"], e["data"]["granted"]) for e in events) == [
        ("marketing", True),
        ("personalisation", True),
    ]
    assert {e["metadata"]["event_version"] for e in events} == {2}


def test_an_unchanged_decision_writes_nothing(app):
    put(app, [sms()])
    before = all_items(TABLE)
    status, body = put(app, [sms()])
    assert status == 200 and body["changed"] == 0
    assert all_items(TABLE) == before


def test_withdrawal_is_history_and_an_event(app):
    put(app, [sms()])
    status, body = put(app, [sms(granted=False)])
    assert status == 200 and body["changed"] == 1
    status, view = call(app, member_event("GET", PATH, MEMBER))
    assert status == 200
    assert [(h["granted"], h["previous_granted"]) for h in view["history"]] == [(False, True), (True, None)]
    current = {(c["purpose"], c["channel"]): c for c in view["consents"]}
    assert current[("marketing", "sms")]["granted"] is False
    assert current[("marketing", "sms")]["text_version"] == "mkt-2026-11"
    assert [e["data"]["granted"] for e in outbox_events("MemberConsentChanged")].count(False) == 1


@pytest.mark.parametrize(
    "consents",
    [
        [{"purpose": "telemarketing", "granted": True, "text_version": "v1"}],
        [{"purpose": "marketing", "channel": "fax", "granted": True, "text_version": "v1"}],
        [sms(), {"purpose": "marketing", "channel": "pigeon", "granted": True, "text_version": "v1"}],
        [sms(), sms(granted=False)],
    ],
)
def test_unknown_purpose_or_channel_is_422_and_nothing_is_written(app, consents):
    before = all_items(TABLE)
    status, body = put(app, consents)
    assert status == 422, body
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["fields"]
    assert all_items(TABLE) == before


def test_history_pages_newest_first(app):
    for i in range(3):
        put(app, [sms(granted=i % 2 == 0, text_version=f"v{i}")])
    event = member_event("GET", PATH, MEMBER)
    event["queryStringParameters"] = {"limit": "2"}
    status, first = call(app, event)
    assert status == 200, first
    assert len(first["history"]) == 2 and first["next_token"]
    assert [h["text_version"] for h in first["history"]] == ["v2", "v1"]
    event["queryStringParameters"] = {"limit": "2", "next_token": first["next_token"]}
    status, second = call(app, event)
    assert status == 200
    assert len(second["history"]) == 1
    event["queryStringParameters"] = {"next_token": "bm9wZQ=="}
    assert call(app, event)[0] == 400


def test_an_erased_or_unknown_member_gets_404_and_nothing_is_written(app):
    put_profile(MEMBER, status="erased")
    before = all_items(TABLE)
    status, body = put(app, [sms()])
    assert status == 404 and body["error"]["code"] == "member_not_found"
    assert all_items(TABLE) == before
    assert call(app, member_event("GET", PATH, MEMBER))[0] == 404
    assert put(app, [sms()], member="01JD0000000000000000000ZZZ")[0] == 404


def test_staff_and_anonymous_callers_are_refused(app):
    assert call(app, member_event("GET", PATH, None))[0] == 401
