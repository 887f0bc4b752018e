"""Campaigns' view of a member's points and tier follows loyalty, through the local cloud on the
real template (rules, queues, stream publishers) and its virtual clock.

Loyalty operations set tiers with display names ("Gold Club" for ``t_gold``), a base earning rule
and a 7-day return window at one tenant. A marketer activates a TierChanged-triggered campaign. A
member registers and buys twice: one purchase earns pending points, the other available points
and the gold tier — the congratulation in the outbox names "Gold Club", not ``t_gold``, and has no
``{placeholder}`` left. Then the member redeems a reward, a week passes (the pending points are
released) and the POS refunds the gold purchase (its points are clawed back, into debt). After
every step campaigns' attribute row (``points_balance``, what segments and ``{points_balance}``
read) equals the available balance loyalty shows the member.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.cloud import LocalCloud
from services.campaigns.logic.experiments import in_global_control
from shared.auth import sign_request
from shared.dynamo import from_item, to_item
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "proj.admin"
MARKETER = "proj.marketer"
REFUNDS = "/v1/integrations/refunds"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def _signed(cloud: LocalCloud, key: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    timestamp = int(cloud.clock.now().timestamp())
    nonce = secrets.token_urlsafe(16)
    headers = {
        "content-type": "application/json",
        "x-mallcrm-source": flow.SOURCE,
        "x-mallcrm-timestamp": str(timestamp),
        "x-mallcrm-nonce": nonce,
        "x-mallcrm-signature": sign_request(key.encode(), "POST", path, timestamp, nonce, raw),
    }
    status, _, answer = cloud.http("POST", path, headers, raw)
    return status, json.loads(answer)


def _purchase(member_id: str, external_id: str, cents: int, tenant: str, at: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "source_system": flow.SOURCE,
        "store_id": f"S-{tenant}",
        "tenant_id": tenant,
        "member_id": member_id,
        "amount_cents": cents,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "SKU", "category": "apparel", "quantity": 1, "amount_cents": cents}],
        "occurred_at": at,
    }


def _row(cloud: LocalCloud, member_id: str) -> dict[str, Any]:
    item = cloud.client("dynamodb").get_item(
        TableName=cloud.physical_id("CampaignsTable"),
        Key=to_item({"pk": f"MEMBER#{member_id}", "sk": "ATTRS"}),
        ConsistentRead=True,
    )
    return from_item(item["Item"]) if "Item" in item else {}


def _available(cloud: LocalCloud, openid: str) -> int:
    token = flow.wechat_login(cloud, openid)[1]["token"]
    status, points = flow._json(cloud, "GET", "/v1/members/me/points", token=token)
    assert status == 200, points
    return int(points["available"])


@pytest.fixture(scope="module")
def story() -> Iterator[dict[str, Any]]:
    cloud = LocalCloud.start(ROOT, start=datetime(2026, 11, 23, 3, 0, tzinfo=UTC))  # 11:00 mall time
    try:
        facts: dict[str, Any] = {"cloud": cloud, "steps": []}
        flow._create_staff_user(cloud, ADMIN, "admin")
        flow._create_staff_user(cloud, MARKETER, "marketer")
        admin, marketer = flow.staff_token(cloud, ADMIN), flow.staff_token(cloud, MARKETER)
        setup = [
            ("PUT", "/v1/admin/tiers/t_normal", {"name": "Normal", "rank": 0, "qualify": 0}),
            ("PUT", "/v1/admin/tiers/t_gold", {"name": "Gold Club", "rank": 1, "qualify": 1000}),
            (
                "POST",
                "/v1/admin/earning-rules",
                {"kind": "base", "name": "1/yuan", "points": 1, "per_cents": 100},
            ),
            (
                "POST",
                "/v1/admin/earning-rules",
                {
                    "kind": "return_window",
                    "name": "Returns",
                    "days": 7,
                    "scope": {"tenant_ids": ["T-FASHION"]},
                },
            ),
            (
                "POST",
                "/v1/admin/rewards",
                {"reward_id": "tote", "name": "Tote", "points_cost": 500, "stock": 5},
            ),
        ]
        for method, path, body in setup:
            status, answer = flow._json(cloud, method, path, body, token=admin)
            assert status in (200, 201), (path, answer)
        campaign = {
            "name": "Welcome to gold",
            "kind": "triggered",
            "trigger": {"event": "tier_changed"},
            "channels": ["sms"],
            "content": {
                "sms": {
                    "body": "Congratulations: {previous_tier} → {new_tier}! You have {points_balance} points."
                }
            },
            "priority": 80,
        }
        status, created = flow._json(cloud, "POST", "/v1/admin/campaigns", campaign, token=marketer)
        assert status == 201, created
        cid = created["campaign_id"]
        assert flow._json(cloud, "POST", f"/v1/admin/campaigns/{cid}/launch", token=marketer)[0] == 200

        openid = "o-proj-points"
        consents = [
            {"purpose": "marketing", "channel": "sms", "granted": True, "text_version": "mkt-2026-11"}
        ]
        status, registered = flow.register(cloud, openid, "13900000188", consents)
        assert status == 201, registered
        member = registered["member"]["member_id"]
        facts["member"] = member
        key = flow._install_integration_key(cloud)
        cloud.settle()

        def step(name: str) -> None:
            cloud.settle()
            facts["steps"].append(
                (name, _row(cloud, member).get("points_balance"), _available(cloud, openid))
            )

        now = cloud.clock.now().isoformat()
        assert (
            _signed(cloud, key, flow.PURCHASES, _purchase(member, "PJ-1", 30000, "T-FASHION", now))[0] == 201
        )
        assert _signed(cloud, key, flow.PURCHASES, _purchase(member, "PJ-2", 150000, "T-FOOD", now))[0] == 201
        step("earned (pending + available, gold)")
        cloud.advance(120)  # dispatch's decision window
        facts["row_after_gold"] = _row(cloud, member)
        token = flow.wechat_login(cloud, openid)[1]["token"]
        status, redeemed = flow._json(
            cloud,
            "POST",
            "/v1/members/me/redemptions",
            {"request_id": "pj-redeem-0001", "reward_id": "tote"},
            token=token,
        )
        assert status in (200, 201), redeemed
        step("reward redeemed")
        cloud.advance(8 * flow.DAY)  # the return window ends: the daily job releases the pending lot
        step("pending points released")
        status, refund = _signed(
            cloud,
            key,
            REFUNDS,
            {
                "external_id": "PJ-R-2",
                "source_system": flow.SOURCE,
                "purchase_external_id": "PJ-2",
                "store_id": "S-T-FOOD",
                "amount_cents": 150000,
                "currency": "CNY",
                "occurred_at": cloud.clock.now().isoformat(),
            },
        )
        assert status == 201, refund
        step("refund clawed back")
        yield facts
    finally:
        cloud.stop()


def test_the_projected_balance_equals_loyaltys_after_every_movement(story: dict[str, Any]) -> None:
    steps = story["steps"]
    assert [name for name, _, _ in steps] == [
        "earned (pending + available, gold)",
        "reward redeemed",
        "pending points released",
        "refund clawed back",
    ]
    for name, projected, available in steps:
        assert projected == available, (name, projected, available)
    # 1 500 available (300 pending), -500, +300, -1 500 clawed back (debt shown, not hidden)
    assert [available for _, _, available in steps] == [1500, 1000, 1300, -200]


def test_the_row_keeps_the_tier_and_its_display_name(story: dict[str, Any]) -> None:
    row = story["row_after_gold"]
    assert (row["tier"], row["tier_name"]) == ("t_gold", "Gold Club")


def test_the_congratulation_names_the_tiers_and_leaves_no_placeholder(story: dict[str, Any]) -> None:
    cloud: LocalCloud = story["cloud"]
    messages = [m for m in cloud.outbox if "Congratulations" in str(m.get("body", ""))]
    if in_global_control(story["member"], "mallcrm-global-control-v1", 500):  # 5 % of member ids
        assert messages == []
        return
    (message,) = messages
    assert "Normal → Gold Club!" in message["body"]
    assert "{" not in message["body"] and "t_gold" not in message["body"]


def test_nothing_in_a_dead_letter_queue(story: dict[str, Any]) -> None:
    cloud: LocalCloud = story["cloud"]
    sqs = cloud.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        if url.endswith("-dlq") and ("campaigns" in url or "loyalty" in url):
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0", url
