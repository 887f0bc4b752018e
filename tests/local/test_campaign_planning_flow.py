"""Campaign planning through the local cloud, on the real template and the virtual clock.

A purchase-driven tier change produces a congratulation in the local outbox: loyalty's admin sets
up tiers and a base earning rule, a marketer creates a TierChanged-triggered campaign and
activates it, a member registers (SMS marketing consent) and buys enough to reach gold at the
till → loyalty records the purchase, earns points, upgrades the tier → TierChanged on the bus →
campaigns' trigger consumer → SendRequest on the dispatch queue → dispatch (guardrails) → the
local SMS fake records the message. A welcome campaign (MemberRegistered) takes the day's SMS slot
first, so the congratulation arrives the next morning (dispatch's cap defers, never drops). Also:
a one-off campaign launched to a segment from the audience snapshot, end to end to the outbox, and
its report; a scheduled coupon campaign refused for an unknown template (loyalty's offers function,
contract A) and launched at 12:00 mall time by its one-time schedule.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from services.campaigns.logic.experiments import in_global_control
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
ADMIN, MARKETER = "planning.admin", "planning.marketer"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def cloud(request: pytest.FixtureRequest) -> Iterator[LocalCloud]:
    # Monday 2026-11-23 from 11:00 in Shanghai (outside quiet hours). Each test starts at its own
    # minute: dispatch remembers the minute buckets it armed on the process-wide Scheduler client,
    # so a second cloud in this process starting at the same minute would never be woken (C1's
    # cache, harmless on Lambda where a container serves one stage).
    minute = {
        "test_a_purchase_driven_tier_change_is_congratulated": 0,
        "test_a_one_off_campaign_reaches_its_segment": 20,
    }.get(request.node.name, 40)
    with LocalCloud.start(ROOT, start=datetime(2026, 11, 23, 3, minute, tzinfo=UTC)) as running:
        yield running


def setup_staff(cloud: LocalCloud) -> tuple[str, str]:
    flow._create_staff_user(cloud, ADMIN, "admin")
    flow._create_staff_user(cloud, MARKETER, "marketer")
    return flow.staff_token(cloud, ADMIN), flow.staff_token(cloud, MARKETER)


def setup_loyalty(cloud: LocalCloud, admin: str) -> None:
    """1 point per yuan; silver from 0, gold from 1 000 points earned in 12 months."""
    for tier_id, rank, qualify in (("silver", 0, 0), ("gold", 1, 1000)):
        status, answer = flow._json(
            cloud, "PUT", f"/v1/admin/tiers/{tier_id}", {"name": tier_id, "rank": rank, "qualify": qualify},
            token=admin,
        )  # fmt: skip
        assert status == 200, answer
    rule = {"kind": "base", "name": "1 per yuan", "points": 1, "per_cents": 100}
    status, answer = flow._json(cloud, "POST", "/v1/admin/earning-rules", rule, token=admin)
    assert status == 201, answer


def sms_member(cloud: LocalCloud, openid: str, phone: str) -> str:
    consents = [{"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-2026-11"}]
    status, answer = flow.register(cloud, openid, phone, consents)
    assert status == 201, answer
    cloud.settle()
    return str(answer["member"]["member_id"])


def outbox_for(cloud: LocalCloud, text: str) -> list[dict[str, Any]]:
    return [m for m in cloud.outbox if text in str(m.get("body", ""))]


def test_a_purchase_driven_tier_change_is_congratulated(cloud: LocalCloud) -> None:
    admin, marketer = setup_staff(cloud)
    setup_loyalty(cloud, admin)
    key = flow._install_integration_key(cloud)
    campaign = {
        "name": "Welcome to gold",
        "kind": "triggered",
        "trigger": {"event": "tier_changed", "tiers": ["gold"]},
        "channels": ["sms"],
        "content": {"sms": {"body": "Congratulations, you are now {new_tier}! Balance: {points_balance}"}},
        "priority": 80,
    }
    status, created = flow._json(cloud, "POST", "/v1/admin/campaigns", campaign, token=marketer)
    assert status == 201, created
    cid = created["campaign_id"]
    status, active = flow._json(cloud, "POST", f"/v1/admin/campaigns/{cid}/launch", token=marketer)
    assert (status, active["status"]) == (200, "active")

    welcome = {
        "name": "Welcome",
        "kind": "triggered",
        "trigger": {"event": "member_registered"},
        "channels": ["sms"],
        "content": {"sms": {"body": "Welcome to the mall's club"}},
    }
    status, created_welcome = flow._json(cloud, "POST", "/v1/admin/campaigns", welcome, token=marketer)
    assert status == 201, created_welcome
    wid = created_welcome["campaign_id"]
    assert flow._json(cloud, "POST", f"/v1/admin/campaigns/{wid}/launch", token=marketer)[0] == 200

    member = sms_member(cloud, "o-plan-gold", "13800000021")
    cloud.advance(120)
    # The welcome: MemberRegistered and the consents travel separately; dispatch checks the consent.
    expected = 0 if in_global_control(member, "mallcrm-global-control-v1", 500) else 1
    assert len(outbox_for(cloud, "Welcome to the mall's club")) == expected
    body = flow._purchase_body(member, "plan-0001", cloud.clock.now(), 150_000)  # 1 500 yuan
    status, answer = flow.post_signed_purchase(cloud, key, body)
    assert status in (200, 201), answer
    cloud.settle()
    cloud.advance(120)  # dispatch's decision window (C1) holds a capped slot for a minute

    tier_events = [e["detail"]["data"] for e in cloud.events if e.get("detail-type") == "TierChanged"]
    assert [(t["member_id"], t["new_tier"], t["direction"]) for t in tier_events] == [(member, "gold", "up")]
    launched = [e["detail"]["data"] for e in cloud.events if e.get("detail-type") == "CampaignLaunched"]
    assert sorted(e["campaign_id"] for e in launched) == sorted([cid, wid])
    if in_global_control(member, "mallcrm-global-control-v1", 500):  # 5 % of random member ids
        assert outbox_for(cloud, "Congratulations") == []
        return
    # Dispatch's cap (1 marketing SMS per member per day) is taken by today's welcome: the
    # congratulation is deferred to tomorrow morning, not lost.
    assert outbox_for(cloud, "Congratulations") == []
    cloud.advance(24 * 3600)
    cloud.settle()
    (message,) = outbox_for(cloud, "Congratulations")
    assert message["channel"] == "sms"
    assert "now gold" in message["body"]

    # A second purchase (still gold) congratulates nobody again.
    body = flow._purchase_body(member, "plan-0002", cloud.clock.now(), 10_000)
    flow.post_signed_purchase(cloud, key, body)
    cloud.settle()
    cloud.advance(120)
    assert len(outbox_for(cloud, "Congratulations")) == 1


def test_a_one_off_campaign_reaches_its_segment(cloud: LocalCloud) -> None:
    admin, marketer = setup_staff(cloud)
    setup_loyalty(cloud, admin)
    key = flow._install_integration_key(cloud)
    big = sms_member(cloud, "o-plan-big", "13800000031")
    small = sms_member(cloud, "o-plan-small", "13800000032")
    for n, (member, cents) in enumerate(((big, 50_000), (small, 2_000))):
        flow.post_signed_purchase(
            cloud, key, flow._purchase_body(member, f"plan-1{n}", cloud.clock.now(), cents)
        )
    cloud.settle()

    status, _ = flow._json(cloud, "POST", "/v1/admin/audience/snapshots", token=marketer)
    assert status == 202
    cloud.settle()
    rule = {"field": "points_balance", "op": "gte", "value": 100}
    status, segment = flow._json(
        cloud, "POST", "/v1/admin/segments", {"name": "100+", "rule": rule}, token=marketer
    )
    assert status == 201, segment
    sid = segment["segment_id"]
    status, preview = flow._json(cloud, "POST", f"/v1/admin/segments/{sid}/preview", {}, token=marketer)
    assert (status, preview["count"], preview["population"]) == (200, 1, 2)

    campaign = {
        "name": "Points week",
        "kind": "one_off",
        "segment_id": sid,
        "channels": ["sms"],
        "content": {"sms": {"body": "You have {points_balance} points - spend them this week"}},
    }
    status, created = flow._json(cloud, "POST", "/v1/admin/campaigns", campaign, token=marketer)
    assert status == 201, created
    cid = created["campaign_id"]
    status, launching = flow._json(cloud, "POST", f"/v1/admin/campaigns/{cid}/launch", token=marketer)
    assert (status, launching["status"]) == (202, "launching")
    cloud.settle()
    cloud.advance(120)
    status, report = flow._json(cloud, "GET", f"/v1/admin/campaigns/{cid}/report", token=marketer)
    assert status == 200, report
    groups = {g["group"]: g["assigned"] for g in report["groups"]}
    # Member ids are random: 5 % of members are in the global control group, who get nothing.
    if in_global_control(big, "mallcrm-global-control-v1", 500):
        assert groups == {"-": 0, "control": 1}
        assert outbox_for(cloud, "spend them this week") == []
    else:
        assert groups == {"-": 1}
        (message,) = outbox_for(cloud, "spend them this week")
        assert "You have 500 points" in message["body"]


def create_coupon_template(cloud: LocalCloud, admin: str, template_id: str) -> None:
    body = {
        "template_id": template_id,
        "name": template_id,
        "kind": "amount_off",
        "amount_off_cents": 2000,
        "valid_days": 7,
    }
    status, answer = flow._json(cloud, "POST", "/v1/admin/coupon-templates", body, token=admin)
    assert status == 201, answer


def test_a_scheduled_coupon_campaign_checks_its_template_and_launches_on_time(cloud: LocalCloud) -> None:
    admin, marketer = setup_staff(cloud)
    setup_loyalty(cloud, admin)
    create_coupon_template(cloud, admin, "weekend-20off")
    member = sms_member(cloud, "o-plan-coupon", "13800000041")
    flow._json(cloud, "POST", "/v1/admin/audience/snapshots", token=marketer)
    cloud.settle()
    rule = {"field": "consents", "op": "has_any", "values": ["marketing:sms"]}
    status, segment = flow._json(
        cloud, "POST", "/v1/admin/segments", {"name": "sms", "rule": rule}, token=marketer
    )
    assert status == 201, segment
    campaign: dict[str, Any] = {
        "name": "Weekend coupon",
        "kind": "scheduled",
        "segment_id": segment["segment_id"],
        "scheduled_at": "2026-11-23T12:00:00",  # mall time: 04:00 UTC, 20 minutes from now
        "channels": ["sms"],
        "content": {"sms": {"body": "A 20 yuan coupon for you, valid until {coupon_valid_until}"}},
        "offer": {"type": "coupon", "template_id": "no-such-template"},
    }
    # Loyalty's offers function (contract A, in-process here) does not know the template: 422.
    status, refused = flow._json(cloud, "POST", "/v1/admin/campaigns", campaign, token=marketer)
    assert (status, refused["error"]["fields"][0]["field"]) == (422, "offer.template_id"), refused
    campaign["offer"] = {"type": "coupon", "template_id": "weekend-20off"}
    status, created = flow._json(cloud, "POST", "/v1/admin/campaigns", campaign, token=marketer)
    assert (status, created["status"], created["offer_valid_days"]) == (201, "scheduled", 7), created
    assert created["scheduled_at"] == "2026-11-23T04:00:00Z"
    cloud.advance(15 * 60)  # 11:55 mall time: not yet
    assert outbox_for(cloud, "20 yuan coupon") == []
    cloud.advance(10 * 60)  # past 12:00: the schedule queued the launch, dispatch sent it
    cloud.settle()
    cid = created["campaign_id"]
    status, launched = flow._json(cloud, "GET", f"/v1/admin/campaigns/{cid}", token=marketer)
    assert launched["status"] == "launched"
    messages = outbox_for(cloud, "20 yuan coupon")
    if in_global_control(member, "mallcrm-global-control-v1", 500):
        assert messages == []
    else:
        (message,) = messages
        assert "valid until 2026-" in message["body"]  # dispatch issued the coupon (contract A)
