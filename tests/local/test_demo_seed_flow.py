"""The demo seed on the real local cloud: what README "Trying it" promises right after `make dev`.

Seeded once (module fixture, ~15 s) at 03:00 UTC (11:00 in Shanghai, outside quiet hours): tiers,
earning rules, coupon templates, rewards, the knowledge base, ticket agents, a segment that
previews members, and the demo purchase that upgrades a new member and is congratulated. The
second seed run changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from infra.localcloud.cloud import LocalCloud
from infra.seed import demo, programme

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]


class Seeded:
    def __init__(self, cloud: LocalCloud, report: demo.SeedReport, demo_file: Path) -> None:
        self.cloud = cloud
        self.report = report
        self.demo_file = demo_file

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        return programme.Api(self.cloud.http, token).call(method, path, body)

    def staff(self, username: str) -> str:
        api, failure = programme.staff_api(self.cloud.http, username, self.report.password)
        assert api is not None and api.token, failure
        return api.token

    def member(self, openid: str) -> str:
        status, login = self.call("POST", "/v1/auth/wechat", {"code": f"local:{openid}"})
        assert status == 200 and login["member_id"], login
        return str(login["token"])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("seed")
    with LocalCloud.start(ROOT, start=datetime(2026, 11, 23, 3, 0, tzinfo=UTC)) as cloud:
        report = demo.seed_all(
            cloud,
            cloud.http,
            client=cloud.client,
            base_url="http://127.0.0.1:3000",
            keys_file=tmp / "keys.json",
            demo_purchase_file=tmp / "demo-purchase.json",
        )
        yield Seeded(cloud, report, tmp / "demo-purchase.json")


def test_the_seed_reports_no_failure_and_keeps_the_clock_in_the_day(seeded: Seeded) -> None:
    report = seeded.report
    failures = (
        report.member_failures
        + report.coupon_template_failures
        + report.store_failures
        + report.purchase_failures
        + report.programme_failures
    )
    assert failures == []
    assert report.purchases_posted == demo.load_data()["purchases"]["count"]
    assert report.clock_moved_to is None  # 11:00 in Shanghai already: nothing moved
    assert report.snapshot_requested
    assert report.demo_member in {report.members[openid] for openid in demo.NEW_MEMBERS}


def test_tiers_rules_templates_and_rewards_are_there(seeded: Seeded) -> None:
    loyalty = seeded.staff("demo.loyalty")
    status, tiers = seeded.call("GET", "/v1/admin/tiers", token=loyalty)
    assert status == 200, tiers
    by_id = {t["tier_id"]: t for t in tiers["tiers"]}
    assert set(by_id) == {"normal", "silver", "gold", "diamond"}
    assert by_id["gold"]["benefits"] == {"free_parking_hours": 3, "points_multiplier_pct": 125}
    assert by_id["diamond"]["qualify"] == 20000

    status, rules = seeded.call("GET", "/v1/admin/earning-rules", token=loyalty)
    kinds = sorted(
        (r["kind"], r.get("multiplier_pct"), tuple(r.get("days_of_week") or ())) for r in rules["rules"]
    )
    assert kinds == [("base", None, ()), ("multiplier", 150, (6, 7)), ("multiplier", 200, ())]

    status, templates = seeded.call("GET", "/v1/admin/coupon-templates", token=loyalty)
    assert status == 200, templates
    ids = {t["template_id"] for t in templates["templates"]}
    assert {"birthday", "win-back"} <= ids

    # The earning rules at work: a weekday coffee at the Starbucks store, as the dry run explains.
    dry = {
        "store_id": "S-L1-08",
        "amount_cents": 6500,
        "items": [{"category": "food_beverage", "amount_cents": 6500}],
        "occurred_at": "2026-11-23T11:00:00+08:00",  # a Monday
        "tier": "gold",
    }
    status, answer = seeded.call("POST", "/v1/admin/earning-rules/dry-run", dry, token=loyalty)
    assert (status, answer["points"]) == (200, 146), answer  # 65 yuan x (1 + 1 dining + 0.25 gold)


def test_a_demo_member_lists_rewards_and_redeems_one(seeded: Seeded) -> None:
    token = seeded.member("demo-openid-0001")
    status, rewards = seeded.call("GET", "/v1/rewards", token=token)
    assert status == 200, rewards
    assert {r["reward_id"] for r in rewards["rewards"]} >= {"tote-bag", "parking-2h", "coffee-20"}
    status, points = seeded.call("GET", "/v1/members/me/points", token=token)
    assert points["tier"]["tier_id"] == "gold" and points["available"] > 800, points
    body = {"request_id": "seed-flow-redeem-0001", "reward_id": "tote-bag"}
    status, redemption = seeded.call("POST", "/v1/members/me/redemptions", body, token=token)
    assert status == 201, redemption
    assert redemption["points"] == 800 and redemption["pickup_code"]


def test_the_knowledge_base_answers_and_a_ticket_reaches_a_seeded_agent(seeded: Seeded) -> None:
    token = seeded.member("demo-openid-0003")
    status, hits = seeded.call("GET", f"/v1/kb/search?q={quote('停车收费')}", token=token)
    assert status == 200, hits
    assert hits["items"][0]["article_id"] == "parking-fees"

    # A common question: answered automatically from the opening-hours article.
    status, ticket = seeded.call("POST", "/v1/members/me/tickets", {"text": "请问商场几点关门?"}, token=token)
    assert status == 201, ticket
    seeded.cloud.settle()
    status, ticket = seeded.call("GET", f"/v1/members/me/tickets/{ticket['ticket_id']}", token=token)
    assert ticket["auto_reply"]["state"] == "offered", ticket
    assert any("22:00" in m["body"] for m in ticket["messages"]), ticket["messages"]

    # Anything else goes to a queue a seeded agent serves, and the agent takes it.
    status, ticket = seeded.call(
        "POST", "/v1/members/me/tickets", {"text": "我的会员卡绑定的手机号想换一个"}, token=token
    )
    assert status == 201, ticket
    agent = seeded.staff("demo.agent")
    status, staff_view = seeded.call("GET", f"/v1/admin/tickets/{ticket['ticket_id']}", token=agent)
    assert status == 200, staff_view
    subject = next(p["subject"] for p in seeded.report.staff if p["username"] == "demo.agent")
    status, agents = seeded.call("GET", f"/v1/admin/ticket-agents?queue={staff_view['queue']}", token=agent)
    assert subject in {a["agent_id"] for a in agents["items"]}, (staff_view["queue"], agents)
    status, assigned = seeded.call("POST", f"/v1/admin/tickets/{ticket['ticket_id']}/assign", {}, token=agent)
    assert (status, assigned["agent_id"]) == (200, subject), assigned


def test_a_seeded_segment_previews_members(seeded: Seeded) -> None:
    marketer = seeded.staff("demo.marketer")
    status, page = seeded.call("GET", "/v1/admin/segments?limit=100", token=marketer)
    segments = {s["name"]: s["segment_id"] for s in page["items"]}
    gold = segments[programme.GOLD_SEGMENT]
    status, preview = seeded.call("POST", f"/v1/admin/segments/{gold}/preview", {}, token=marketer)
    assert status == 200, preview
    # The three demo shoppers' month of purchases made them gold; the two newcomers are not.
    assert (preview["count"], preview["population"]) == (3, 5), preview


def test_the_demo_purchase_upgrades_and_is_congratulated(seeded: Seeded) -> None:
    cloud, report = seeded.cloud, seeded.report
    body = json.loads(seeded.demo_file.read_text(encoding="utf-8"))
    assert body["member_id"] == report.demo_member
    accepted, failures = demo.seed_purchases(
        cloud.http, [body], "pos-demo", report.sources["pos-demo"], cloud.clock.now
    )
    assert (accepted, failures) == (1, [])
    cloud.settle()
    changes = [
        e["detail"]["data"]
        for e in cloud.events
        if e.get("detail-type") == "TierChanged" and e["detail"]["data"]["member_id"] == report.demo_member
    ]
    assert [(c["previous_tier"], c["new_tier"]) for c in changes] == [("normal", "silver")]
    sent = [m for m in cloud.outbox if m.get("member_id") == report.demo_member]
    assert sent, cloud.outbox
    assert "you are now 银卡会员 Silver" in sent[0]["body"]
    # Nobody was congratulated for the past purchases: the campaign was activated after them.
    assert all(m.get("member_id") == report.demo_member for m in cloud.outbox if "升级" in str(m.get("body")))


def _state(seeded: Seeded) -> dict[str, Any]:
    loyalty, admin, marketer = (seeded.staff(u) for u in ("demo.loyalty", "demo.admin", "demo.marketer"))
    reads = {
        "tiers": ("/v1/admin/tiers", loyalty),
        "rules": ("/v1/admin/earning-rules", loyalty),
        "templates": ("/v1/admin/coupon-templates", loyalty),
        "rewards": ("/v1/admin/rewards", loyalty),
        "stores": ("/v1/admin/stores", loyalty),
        "agents": ("/v1/admin/ticket-agents", admin),
        "routing": ("/v1/admin/ticket-routing-rules", admin),
        "articles": ("/v1/admin/kb-articles", admin),
        "segments": ("/v1/admin/segments?limit=100", marketer),
        "campaigns": ("/v1/admin/campaigns?limit=100", marketer),
    }
    state: dict[str, Any] = {}
    for name, (path, token) in reads.items():
        status, answer = seeded.call("GET", path, token=token)
        assert status == 200, (path, answer)
        state[name] = answer
    state["purchases"] = sum(1 for e in seeded.cloud.events if e.get("detail-type") == "PurchaseRecorded")
    return state


def test_seeding_again_changes_nothing(seeded: Seeded, tmp_path: Path) -> None:
    before = _state(seeded)
    again = demo.seed_all(
        seeded.cloud,
        seeded.cloud.http,
        client=seeded.cloud.client,
        keys_file=tmp_path / "keys.json",
        demo_purchase_file=tmp_path / "demo-purchase.json",
    )
    assert again.purchase_failures == [] and again.programme_failures == []
    assert again.members == seeded.report.members
    assert again.sources == seeded.report.sources  # the key is kept, not rotated
    after = _state(seeded)
    # Agents' open-ticket counts move with the tickets of the tests above, not with the seed.
    assert after == before
