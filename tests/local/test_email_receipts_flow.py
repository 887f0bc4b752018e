"""An e-mail campaign message becomes delivered and clicked in the campaign's report, through the
local cloud on the real template and the virtual clock.

Members register with e-mail marketing consent (members' API), a marketer snapshots the audience,
creates a one-off e-mail campaign with two variants and launches it (campaigns' API) → launch
worker → dispatch → the local e-mail fake records each message in ``cloud.outbox``. SES itself does
not exist locally, so what SES would publish next comes from the clearly named stand-in
(``services/campaigns/dal/local_ses.py``): "Email Delivered" and "Email Clicked" events for the
recorded messages, on the local **default** bus. From there it is the system: the same rule as in
AWS (``CampaignsChannelReceiptsRule``, this stage's configuration set only) → queue → receipt
function → send record, outbox → stream → publisher → ``MessageDelivered`` / ``MessageClicked`` on
the MallCRM bus, and the counters the report reads. A complaint — posted through the local route
``POST /_local/ses-events`` a person would use — reaches members as ``MarketingComplaintReceived``
(members records the e-mail marketing withdrawal: the member's preferences show it) and stops the
next e-mail campaign for that member.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from services.campaigns.dal.local_ses import LocalSesEventSimulator
from services.campaigns.logic.experiments import in_global_control
from shared import clock
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
MARKETER = "receipts.marketer"
CONTROL_SALT, CONTROL_BASIS_POINTS = "mallcrm-global-control-v1", 500

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    # Monday 2026-11-23 11:50 in Shanghai (outside quiet hours; a minute of its own, see
    # test_campaign_planning_flow's fixture).
    with LocalCloud.start(ROOT, start=datetime(2026, 11, 23, 3, 50, tzinfo=UTC)) as running:
        yield running


def email_member(cloud: LocalCloud, n: int, tokens: dict[str, str]) -> str:
    consents = [
        {"purpose": "marketing", "channel": "email", "granted": True, "text_version": "mkt-2026-11"},
        {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-2026-11"},
    ]
    status, answer = flow.register(cloud, f"o-receipts-{n}", f"138000001{n:02d}", consents)
    assert status == 201, answer
    member_id = str(answer["member"]["member_id"])
    tokens[member_id] = str(answer["token"])
    return member_id


def launch(cloud: LocalCloud, marketer: str, segment_id: str, name: str) -> str:
    campaign = {
        "name": name,
        "kind": "one_off",
        "segment_id": segment_id,
        "channels": ["email"],
        "content": {"email": {"title": "本周特惠", "body": f"{name}: 20% off this weekend"}},
        "variants": [{"name": "A"}, {"name": "B"}],
    }
    status, created = flow._json(cloud, "POST", "/v1/admin/campaigns", campaign, token=marketer)
    assert status == 201, created
    cid = str(created["campaign_id"])
    status, answer = flow._json(cloud, "POST", f"/v1/admin/campaigns/{cid}/launch", token=marketer)
    assert status == 202, answer
    cloud.settle()
    cloud.advance(120)  # the decision window
    return cid


def emails(cloud: LocalCloud, campaign_id: str) -> list[dict[str, Any]]:
    return [m for m in cloud.outbox if m.get("channel") == "email" and m.get("campaign_id") == campaign_id]


def report(cloud: LocalCloud, marketer: str, campaign_id: str) -> dict[str, dict[str, Any]]:
    status, answer = flow._json(cloud, "GET", f"/v1/admin/campaigns/{campaign_id}/report", token=marketer)
    assert status == 200, answer
    return {g["group"]: g for g in answer["groups"]}


def bus(cloud: LocalCloud, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"]["data"] for e in cloud.events if e.get("detail-type") == detail_type]


def test_an_email_campaign_message_is_delivered_and_clicked_in_the_report(cloud: LocalCloud) -> None:
    flow._create_staff_user(cloud, MARKETER, "marketer")
    marketer = flow.staff_token(cloud, MARKETER)
    tokens: dict[str, str] = {}
    members = [email_member(cloud, n, tokens) for n in range(4)]
    cloud.settle()
    treated = [m for m in members if not in_global_control(m, CONTROL_SALT, CONTROL_BASIS_POINTS)]
    assert treated, "all four in the 5 % global control group: rerun"

    status, _ = flow._json(cloud, "POST", "/v1/admin/audience/snapshots", token=marketer)
    assert status == 202
    cloud.settle()
    rule = {"field": "consents", "op": "has_any", "values": ["marketing:email"]}
    status, segment = flow._json(
        cloud, "POST", "/v1/admin/segments", {"name": "e-mail", "rule": rule}, token=marketer
    )
    assert status == 201, segment

    cid = launch(cloud, marketer, segment["segment_id"], "Weekend")
    sent = emails(cloud, cid)
    assert sorted(m["member_id"] for m in sent) == sorted(treated)
    before = report(cloud, marketer, cid)
    assert sum(g["sent"] for g in before.values()) == len(treated)
    assert sum(g["delivered"] for g in before.values()) == 0  # e-mail waits for SES's receipt

    ses = LocalSesEventSimulator(cloud.client("events"), cloud.physical_id("CampaignsEmailConfigurationSet"))
    sent_at = cloud.clock.now()
    for message in sent:  # every message delivered a few seconds later; the first one clicked
        ses.post(
            "delivered",
            send_id=message["send_id"],
            message_id=message["provider_message_id"],
            sent_at=sent_at,
            at=sent_at + timedelta(seconds=4),
        )
    first = sent[0]
    for _ in range(2):  # a click reported twice counts once
        ses.post(
            "clicked",
            send_id=first["send_id"],
            message_id=first["provider_message_id"],
            sent_at=sent_at,
            at=sent_at + timedelta(minutes=3),
        )
    cloud.settle()

    after = report(cloud, marketer, cid)
    assert sum(g["delivered"] for g in after.values()) == len(treated)
    clicked = {name: g["clicked"] for name, g in after.items() if g["clicked"]}
    variant_of_first = next(
        e["variant"] for e in bus(cloud, "MessageSent") if e["send_id"] == first["send_id"]
    )
    assert clicked == {variant_of_first: 1}
    delivered_events = [e for e in bus(cloud, "MessageDelivered") if e["campaign_id"] == cid]
    assert sorted(e["member_id"] for e in delivered_events) == sorted(treated)
    assert {e["channel"] for e in delivered_events} == {"email"}
    [click] = [e for e in bus(cloud, "MessageClicked") if e["campaign_id"] == cid]
    assert click["send_id"] == first["send_id"]
    assert click["clicked_at"] == clock.to_utc_iso(sent_at + timedelta(minutes=3))

    # The first recipient marks the e-mail as spam — posted the way a person at the local cloud
    # would, through its local route: their next e-mail campaign does not reach them.
    status, _, raw = cloud.http("POST", "/_local/ses-events", {}, b'{"kind": "complained"}')
    assert status == 422 and b"send_id" in raw and b"kind" not in raw.split(b"fields")[1]
    unknown = json.dumps({"kind": "complained", "send_id": "cmp#nobody#nothing"}).encode()
    assert cloud.http("POST", "/_local/ses-events", {}, unknown)[0] == 404
    complaint = json.dumps({"kind": "complained", "send_id": first["send_id"]}).encode()
    status, _, raw = cloud.http("POST", "/_local/ses-events", {}, complaint)
    assert (status, json.loads(raw)["posted"]) == (202, "Email Complaint Received"), raw
    cloud.settle()
    group = report(cloud, marketer, cid)[variant_of_first]
    assert (group["clicked"], group["complained"], group["bounced"]) == (1, 1, 0)
    # Members, which owns consent, heard of it (campaigns' MarketingComplaintReceived → members'
    # rule → queue → MembersOnMarketingComplaintFunction) and recorded the withdrawal: the member's
    # own preferences say e-mail marketing is off (SMS untouched), the history says why, and the
    # MemberConsentChanged it published is the one campaigns' projection consumes.
    [told] = [e for e in bus(cloud, "MarketingComplaintReceived") if e["send_id"] == first["send_id"]]
    assert (told["member_id"], told["channel"], told["campaign_id"]) == (first["member_id"], "email", cid)
    member_token = tokens[first["member_id"]]
    status, prefs = flow._json(cloud, "GET", "/v1/members/me/preferences", token=member_token)
    assert status == 200, prefs
    assert (prefs["marketing"]["email"], prefs["marketing"]["sms"]) == (False, True)
    status, consents = flow._json(cloud, "GET", "/v1/members/me/consents", token=member_token)
    assert status == 200, consents
    latest = consents["history"][0]
    assert (latest["channel"], latest["granted"], latest["source"]) == ("email", False, "complaint")
    [withdrawn] = [
        e
        for e in bus(cloud, "MemberConsentChanged")
        if e["member_id"] == first["member_id"] and e["channel"] == "email" and not e["granted"]
    ]
    assert withdrawn["changed_at"] == told["complained_at"]
    cloud.advance(2 * 86_400)  # the day's cap does not decide this
    marketer = flow.staff_token(cloud, MARKETER)  # the morning's token has expired
    cid2 = launch(cloud, marketer, segment["segment_id"], "Next weekend")
    second = [m["member_id"] for m in emails(cloud, cid2)]
    assert second and first["member_id"] not in second
    # The refusal is in the consent projection, which the nightly audience snapshot indexes: the
    # member is no longer in the e-mail audience at all (and dispatch, which reads the projection
    # at send time, would suppress a message already queued — tests/integration/campaigns/
    # test_channel_receipts.py).
    assert not [
        e
        for e in bus(cloud, "MessageSent")
        if e["campaign_id"] == cid2 and e["member_id"] == first["member_id"]
    ]
