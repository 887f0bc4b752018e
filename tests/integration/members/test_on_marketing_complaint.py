"""MembersOnMarketingComplaintFunction on moto: campaigns' ``MarketingComplaintReceived`` (as the
bus delivers it to the queue) withdraws the member's e-mail marketing consent in members — the
current item, a history entry with source ``complaint`` and ``MemberConsentChanged`` — so the
preferences and consents APIs show it; once per event; a decision the member made after the
complaint stands; an erased member is left alone; a broken record fails alone."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.members.dal.complaints import COMPLAINT_CONSUMER
from services.members.dal.members import DynamoMembersRepository
from services.members.handlers import on_marketing_complaint
from services.members.handlers.routes.consents import router as consents_router
from services.members.handlers.routes.preferences import router as preferences_router
from services.members.logic.contacts import CONTACT_CONSENT
from shared import clock
from shared.api import make_resolver
from shared.events.contracts import MarketingComplaintReceived
from tests.integration.helpers import FakeContext, all_items, contract_bus_event, sqs_event
from tests.integration.members.privacy_support import (
    MEMBER,
    NOW,
    OTHER,
    TABLE,
    call,
    items_with_prefix,
    member_event,
    members_env,  # noqa: F401 - fixture (used by the app fixture)
    outbox_events,
    put_profile,
)

COMPLAINED = NOW + timedelta(hours=1)
LATER = NOW + timedelta(hours=2)


@pytest.fixture
def app(members_env):  # noqa: F811 - the imported fixture
    resolver = make_resolver()
    resolver.include_router(preferences_router)
    resolver.include_router(consents_router)
    put_profile(MEMBER)
    # the member opted in to e-mail and SMS marketing (at NOW, through members' API)
    status, body = call(
        resolver,
        member_event(
            "PUT",
            "/v1/members/me/preferences",
            MEMBER,
            {"text_version": "mkt-2026-11", "marketing": {"email": True, "sms": True}},
        ),
    )
    assert (status, body["changed"]) == (200, 2), body
    return resolver


def complaint(member_id: str = MEMBER, at: Any = COMPLAINED) -> dict[str, Any]:
    data = MarketingComplaintReceived(
        member_id=member_id,
        channel="email",
        send_id=f"cmp#01HZ5555555555555555555555#{member_id}",
        campaign_id="01HZ5555555555555555555555",
        complained_at=at,
    )
    return contract_bus_event(data, correlation_id="cmp#01HZ5555555555555555555555")


def consume(*events: Any) -> dict[str, Any]:
    clock.set_clock(lambda: LATER)  # processed an hour after the complaint
    answer: dict[str, Any] = on_marketing_complaint.handler(sqs_event(list(events)), FakeContext())
    return answer


def preferences(app: Any) -> dict[str, Any]:
    status, body = call(app, member_event("GET", "/v1/members/me/preferences", MEMBER))
    assert status == 200, body
    return body


def withdrawals() -> list[dict[str, Any]]:
    return [e for e in outbox_events("MemberConsentChanged") if e["data"]["granted"] is False]


def directory_consented(channel: str) -> bool:
    """What the contact directory's one read says of the channel's consent (it refuses an address
    with ``not_consented`` when False: tests/integration/members/test_contact_directory.py)."""
    _, _, consented = DynamoMembersRepository(TABLE).contact_facts(MEMBER, CONTACT_CONSENT, channel)
    return consented


def test_a_complaint_withdraws_email_marketing_as_a_consent_change(app: Any) -> None:
    assert preferences(app)["marketing"]["email"] is True
    assert directory_consented("email")
    assert consume(complaint()) == {"batchItemFailures": []}

    assert preferences(app)["marketing"] == {"sms": True, "email": False, "wechat": False, "inbox": False}
    assert not directory_consented("email") and directory_consented("sms")
    [current] = [i for i in items_with_prefix(MEMBER, "CONSENT#") if i["sk"] == "CONSENT#marketing#email"]
    assert (current["granted"], current["source"], current["text_version"]) == (
        False,
        "complaint",
        "mkt-2026-11",
    )
    assert current["changed_at"] == clock.to_utc_iso(COMPLAINED)  # dated at the complaint
    # history: the consents API shows where the withdrawal came from
    status, view = call(app, member_event("GET", "/v1/members/me/consents", MEMBER))
    assert status == 200, view
    latest = view["history"][0]
    assert (latest["purpose"], latest["channel"], latest["granted"], latest["previous_granted"]) == (
        "marketing",
        "email",
        False,
        True,
    )
    assert latest["source"] == "complaint"
    # MemberConsentChanged, as any withdrawal: campaigns' projection consumes it
    [event] = withdrawals()
    assert event["data"] == {
        "member_id": MEMBER,
        "purpose": "marketing",
        "channel": "email",
        "granted": False,
        "changed_at": clock.to_utc_iso(COMPLAINED),
        "text_version": "mkt-2026-11",
    }
    assert event["metadata"]["producer"] == "members.on_marketing_complaint"
    assert event["metadata"]["correlation_id"] == "cmp#01HZ5555555555555555555555"


def test_the_same_event_twice_is_applied_once(app: Any) -> None:
    event = complaint()
    assert consume(event, event) == {"batchItemFailures": []}
    assert consume(event) == {"batchItemFailures": []}
    assert len(withdrawals()) == 1
    assert len([i for i in items_with_prefix(MEMBER, "CONSENTLOG#") if i["source"] == "complaint"]) == 1
    event_id = event["detail"]["metadata"]["event_id"]
    markers = [i for i in all_items(TABLE) if i["pk"] == f"EVENT#{event_id}"]
    assert [m["sk"] for m in markers] == [f"CONSUMER#{COMPLAINT_CONSUMER}"]
    assert "ttl" in markers[0]


def test_a_grant_the_member_made_after_the_complaint_stands(app: Any) -> None:
    # after the complaint, and before its event reached members, the member switched e-mail off
    # and on again: their latest decision (a grant newer than the complaint) stands
    clock.set_clock(lambda: COMPLAINED + timedelta(minutes=5))
    status, body = call(
        app,
        member_event(
            "PUT",
            "/v1/members/me/preferences",
            MEMBER,
            {"text_version": "mkt-2", "marketing": {"email": False}},
        ),
    )
    assert status == 200, body
    clock.set_clock(lambda: COMPLAINED + timedelta(minutes=10))
    status, body = call(
        app,
        member_event(
            "PUT",
            "/v1/members/me/preferences",
            MEMBER,
            {"text_version": "mkt-2", "marketing": {"email": True}},
        ),
    )
    assert status == 200, body
    before = all_items(TABLE)
    assert consume(complaint()) == {"batchItemFailures": []}
    assert all_items(TABLE) == before  # nothing written, not even the marker
    assert preferences(app)["marketing"]["email"] is True


def test_an_erased_or_unknown_member_is_left_alone(app: Any) -> None:
    put_profile(OTHER, status="erased")
    before = all_items(TABLE)
    assert consume(complaint(OTHER), complaint("01JD0000000000000000000CCC")) == {"batchItemFailures": []}
    assert all_items(TABLE) == before


def test_a_broken_record_fails_alone(app: Any) -> None:
    broken = complaint()
    del broken["detail"]["data"]["member_id"]
    event = sqs_event([broken, "{not json", complaint()])
    clock.set_clock(lambda: LATER)
    answer = on_marketing_complaint.handler(event, FakeContext())
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    assert failed == {event["Records"][0]["messageId"], event["Records"][1]["messageId"]}
    assert len(withdrawals()) == 1
    assert json.dumps(preferences(app)["marketing"]) == json.dumps(
        {"sms": True, "email": False, "wechat": False, "inbox": False}
    )
