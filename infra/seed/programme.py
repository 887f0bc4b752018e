# ruff: noqa: RUF001 - the Chinese texts use full-width punctuation on purpose
"""The demo mall's programme, loaded through the public admin APIs as its operators would.

What a person needs to see the product right after ``make dev`` (README "Trying it"):

* loyalty (the loyalty operator, ``demo.loyalty``): the tier program and tiers normal / silver /
  gold / diamond with their benefits (free parking hours, points multiplier), earning rules (a base
  rate, a dining category multiplier, a weekend multiplier), coupon templates (the journeys'
  ``birthday`` and ``win-back`` plus two a reward issues) and the rewards catalogue;
* tickets (``demo.admin``, ``demo.agent``): the agents and their queues, a routing rule, and
  knowledge-base articles — two of them with the intents the automatic first answer uses
  (opening hours, parking fees);
* campaigns (the marketer, ``demo.marketer``): segments, a TierChanged-triggered congratulation
  (activated) and a one-off draft, and an audience snapshot (``POST /v1/admin/audience/snapshots``,
  what the daily materialise job makes) so a segment previews at once.

Every step is idempotent on the API's own natural keys: a PUT (tiers, agents, routing rules), a
409 "exists" (templates, rewards, articles), or a list read before a create whose id the service
mints (earning rules, segments and campaigns, found by name). Failures are collected, never
raised: the demo comes up with what worked and the banner says what did not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote

Http = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]

# -- the programme ----------------------------------------------------------------------------------

TIER_PROGRAM: dict[str, Any] = {"basis": "points", "window_months": 12}

DEMO_TIERS: tuple[dict[str, Any], ...] = (
    {
        "tier_id": "normal",
        "name": "普通会员 Member",
        "rank": 0,
        "qualify": 0,
        "benefits": {"free_parking_hours": 0, "points_multiplier_pct": 100},
    },
    {
        "tier_id": "silver",
        "name": "银卡会员 Silver",
        "rank": 1,
        "qualify": 1000,
        "retain": 800,
        "benefits": {"free_parking_hours": 2, "points_multiplier_pct": 110},
    },
    {
        "tier_id": "gold",
        "name": "金卡会员 Gold",
        "rank": 2,
        "qualify": 5000,
        "retain": 4000,
        "benefits": {"free_parking_hours": 3, "points_multiplier_pct": 125},
    },
    {
        "tier_id": "diamond",
        "name": "钻石会员 Diamond",
        "rank": 3,
        "qualify": 20000,
        "retain": 16000,
        "benefits": {"free_parking_hours": 5, "points_multiplier_pct": 150},
    },
)
"""Qualification on points earned over 12 whole mall-local months (1 point per yuan): the demo
shoppers' month of purchases (~¥7,500 each) makes them gold; a new member's ¥1,299 purchase makes
her silver."""

DEMO_EARNING_RULES: tuple[dict[str, Any], ...] = (
    {"kind": "base", "name": "基础积分 1 分/元 (base: 1 point per yuan)", "points": 1, "per_cents": 100},
    {
        "kind": "multiplier",
        "name": "餐饮双倍积分 (dining double points)",
        "multiplier_pct": 200,
        "scope": {"categories": ["dining", "food_beverage"]},
    },
    {
        "kind": "multiplier",
        "name": "周末 1.5 倍积分 (weekend x1.5)",
        "multiplier_pct": 150,
        "days_of_week": [6, 7],
    },
)
"""Found again by ``name`` (loyalty mints rule ids): keep names unique."""

DEMO_COUPON_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        # The birthday journey's coupon (campaigns' BIRTHDAY_COUPON_TEMPLATE_ID): once a year per
        # member is campaigns' rule (jrn#birthday#<member>#<year>), so no lifetime per-member limit.
        "template_id": "birthday",
        "name": "生日礼券 ¥50 (满 ¥200)",
        "kind": "amount_off",
        "amount_off_cents": 5000,
        "min_spend_cents": 20000,
        "valid_days": 30,
    },
    {
        # The churn journey's win-back offer (WIN_BACK_COUPON_TEMPLATE_ID): 20 % off, at most ¥100.
        "template_id": "win-back",
        "name": "回归礼 8 折 (最高减 ¥100)",
        "kind": "percent_off",
        "percent_off": 20,
        "max_discount_cents": 10000,
        "valid_days": 14,
    },
)
"""What campaigns' built-in journeys name (without them their messages are suppressed
``offer_unknown_template``, contract B)."""

REWARD_COUPON_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "template_id": "coffee-20off",
        "name": "星巴克 ¥20 咖啡券 (满 ¥30) Starbucks ¥20 off",
        "kind": "amount_off",
        "amount_off_cents": 2000,
        "min_spend_cents": 3000,
        "tenant_ids": ["T-STARBUCKS"],
        "valid_days": 30,
    },
    {
        "template_id": "parking-2h",
        "name": "2 小时停车券 2-hour parking",
        "kind": "parking",
        "face_value_cents": 2000,
        "parking_minutes": 120,
        "valid_days": 30,
    },
)
"""The templates the coupon rewards issue."""

DEMO_REWARDS: tuple[dict[str, Any], ...] = (
    {
        "reward_id": "tote-bag",
        "name": "商场限定帆布袋 Mall tote bag",
        "description": "服务台凭提货码领取 / collect at the service desk (L1) with the pick-up code",
        "kind": "gift",
        "points_cost": 800,
        "stock": 200,
        "per_member_limit": 1,
    },
    {
        "reward_id": "parking-2h",
        "name": "2 小时停车券 2-hour parking coupon",
        "kind": "coupon",
        "template_id": "parking-2h",
        "points_cost": 600,
    },
    {
        "reward_id": "coffee-20",
        "name": "星巴克 ¥20 咖啡券 Starbucks ¥20 off",
        "kind": "coupon",
        "template_id": "coffee-20off",
        "points_cost": 1500,
        "stock": 500,
    },
)

DEMO_KB_ARTICLES: tuple[dict[str, Any], ...] = (
    {
        "article_id": "opening-hours",
        "title": "商场营业时间 Opening hours",
        "body": (
            "商场营业时间：每天 10:00–22:00；B1 Ole' 超市 09:00–22:00；L5 餐饮延长至 22:30。"
            "节假日营业时间以商场公告为准。\n"
            "The mall is open daily 10:00–22:00; Ole' supermarket (B1) 09:00–22:00; "
            "restaurants on L5 until 22:30."
        ),
        "tags": ["营业时间", "opening hours"],
        "intent": "opening_hours",
    },
    {
        "article_id": "parking-fees",
        "title": "停车收费标准 Parking fees",
        "body": (
            "停车收费：首小时免费，之后每小时 ¥10，当日封顶 ¥60。会员免费停车：银卡 2 小时，"
            "金卡 3 小时，钻石 5 小时；也可用积分或停车券抵扣。\n"
            "Parking: the first hour is free, then ¥10 an hour, at most ¥60 a day. Free hours for "
            "members: silver 2, gold 3, diamond 5; pay the rest with points or a parking coupon."
        ),
        "tags": ["停车", "parking"],
        "intent": "parking_fee",
    },
    {
        "article_id": "earning-points",
        "title": "如何获得积分 How to earn points",
        "body": (
            "每消费 1 元积 1 分；餐饮双倍积分；周末 1.5 倍积分；银卡、金卡、钻石会员另有积分加成。"
            "收银台出示会员码即可积分，忘记出示可在小程序上传小票补录。\n"
            "1 point per yuan; double points on dining; x1.5 at weekends; silver, gold and diamond "
            "members earn more. Show your member code at the till, or upload the receipt later."
        ),
        "tags": ["积分", "points"],
    },
    {
        "article_id": "member-tiers",
        "title": "会员等级与权益 Member tiers and benefits",
        "body": (
            "12 个月内累计积分 1,000 升银卡，5,000 升金卡，20,000 升钻石；权益包括免费停车时长和积分加成。\n"
            "Earn 1,000 points in 12 months for silver, 5,000 for gold, 20,000 for diamond: free "
            "parking hours and a points bonus come with each tier."
        ),
        "tags": ["等级", "tier"],
    },
    {
        "article_id": "lost-and-found",
        "title": "失物招领 Lost and found",
        "body": (
            "物品遗失请联系 L1 服务台或在小程序提交服务请求，拾获物品保管 30 天。\n"
            "Lost something? Ask the L1 service desk or open a service request; found items are "
            "kept for 30 days."
        ),
        "tags": ["失物招领", "lost"],
    },
    {
        "article_id": "returns",
        "title": "退换货说明 Returns and exchanges",
        "body": (
            "退换货请凭小票到原店铺办理，退货后相应积分将被扣回。\n"
            "Returns and exchanges are handled by the store with the receipt; the points of a "
            "refunded purchase are taken back."
        ),
        "tags": ["退货", "refund"],
    },
)
"""Bilingual articles; ``opening-hours`` and ``parking-fees`` carry the intents the automatic first
answer reads (services/tickets/README.md)."""

DEMO_ROUTING_RULES: tuple[dict[str, Any], ...] = (
    {"rule_id": "rewards-to-loyalty", "position": 10, "match": {"topic": "rewards"}, "queue": "loyalty_desk"},
)

DEMO_AGENTS: tuple[dict[str, Any], ...] = (
    # Agents are staff subjects (Cognito ``sub``): the seed looks them up by username.
    {
        "username": "demo.agent",
        "display_name": "山姆 Sam Service",
        "queues": ["front_desk", "loyalty_desk", "parking"],
    },
    {"username": "demo.admin", "display_name": "值班主管 Ada Admin", "queues": ["supervisor"]},
)

GOLD_SEGMENT = "金卡及以上 Gold and above"
DEMO_SEGMENTS: tuple[dict[str, Any], ...] = (
    {
        "name": GOLD_SEGMENT,
        "description": "Members in the gold or diamond tier.",
        "rule": {"field": "tier", "op": "in", "values": ["gold", "diamond"]},
    },
    {
        "name": "微信营销可触达 Reachable on WeChat",
        "description": "Members who consented to WeChat marketing.",
        "rule": {"field": "consents", "op": "has_any", "values": ["marketing:wechat"]},
    },
)
"""Found again by ``name`` (campaigns mints segment ids)."""

TIER_UP_CAMPAIGN = "会员升级祝贺 Tier-up congratulations"
TIER_UP_TEXT = "恭喜您升级为{new_tier}！免费停车和积分加成已生效。Congratulations, you are now {new_tier}."
DEMO_CAMPAIGNS: tuple[dict[str, Any], ...] = (
    {
        "name": TIER_UP_CAMPAIGN,
        "kind": "triggered",
        "trigger": {"event": "tier_changed"},
        "channels": ["wechat", "inbox"],
        "content": {
            "wechat": {"title": "会员升级 Tier upgrade", "body": TIER_UP_TEXT},
            "inbox": {"title": "会员升级 Tier upgrade", "body": TIER_UP_TEXT},
        },
        # Sent in one pass (no decision window): nothing can outrank it.
        "priority": 100,
        "activate": True,
    },
    {
        "name": "金卡专享周末礼 Gold weekend treat (draft)",
        "kind": "one_off",
        "segment": GOLD_SEGMENT,
        "channels": ["wechat", "inbox"],
        "content": {
            "wechat": {"body": "尊敬的{tier}，本周末凭会员码到 L1 服务台领取咖啡券一张。"},
            "inbox": {"body": "尊敬的{tier}，本周末凭会员码到 L1 服务台领取咖啡券一张。"},
        },
        "priority": 50,
        "activate": False,
    },
)
"""Found again by ``name``. The congratulation is activated (``POST .../launch`` on a triggered
campaign); the one-off stays a draft for the operator to launch."""

# The demo runs in the mall's day: dispatch defers marketing in quiet hours (template parameters
# CampaignQuietStartHour 21 / CampaignQuietEndHour 9, mall time), so a congratulation posted at
# night would only arrive the next morning.
DEMO_DAY_START_HOUR = 10
DEMO_DAY_LAST_HOUR = 18  # starting later than 18:59 leaves too little time before quiet hours


def demo_day_shift(now: datetime, tz: tzinfo) -> float:
    """Seconds to move the virtual clock so the demo starts in the mall's day (0: it does): a start
    before 10:00 or after 18:59 mall time moves to the next 10:00."""
    local = now.astimezone(tz)
    if DEMO_DAY_START_HOUR <= local.hour <= DEMO_DAY_LAST_HOUR:
        return 0.0
    target = local.replace(hour=DEMO_DAY_START_HOUR, minute=0, second=0, microsecond=0)
    if local.hour > DEMO_DAY_LAST_HOUR:
        target = (local + timedelta(days=1)).replace(
            hour=DEMO_DAY_START_HOUR, minute=0, second=0, microsecond=0
        )
    return (target - local).total_seconds()


# -- calling the API ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What is in place (per kind: the ids or names) and what failed."""

    done: dict[str, list[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def ok(self, kind: str, name: str) -> None:
        self.done.setdefault(kind, []).append(name)

    def failed(self, kind: str, name: str, status: int, answer: Any) -> None:
        text = answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)
        self.failures.append(f"{kind} {name}: {status} {text[:200]}")


class Api:
    """JSON calls through the front door as one signed-in caller."""

    def __init__(self, http: Http, token: str | None = None) -> None:
        self.http = http
        self.token = token

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        status, _, answer = self.http(method, path, headers, raw)
        try:
            return status, json.loads(answer) if answer else None
        except ValueError:
            return status, answer[:200].decode("utf-8", "replace")


def staff_api(http: Http, username: str, password: str) -> tuple[Api | None, str]:
    """Sign in as a staff user (``POST /v1/auth/staff``); (the caller, "") or (None, the failure)."""
    status, answer = Api(http).call("POST", "/v1/auth/staff", {"username": username, "password": password})
    if status != 200 or not isinstance(answer, dict) or "id_token" not in answer:
        return None, f"staff login {username}: {status} {str(answer)[:200]}"
    return Api(http, str(answer["id_token"])), ""


def _all_pages(api: Api, path: str) -> list[dict[str, Any]]:
    """Every item of a campaigns list (``items`` + ``next_token``)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        query = "?limit=100" + (f"&next_token={quote(token)}" if token else "")
        status, answer = api.call("GET", path + query)
        if status != 200 or not isinstance(answer, dict):
            raise LookupError(f"GET {path}: {status} {str(answer)[:200]}")
        items.extend(answer.get("items", []))
        token = answer.get("next_token")
        if not token:
            break
    return items


# -- loyalty -----------------------------------------------------------------------------------------


def same(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Does ``current`` (as the API shows it) already hold every field of ``wanted``? Then a PUT
    would change nothing but its audit trail and timestamps, and is skipped."""
    return current is not None and all(current.get(k) == v for k, v in wanted.items())


def seed_loyalty(api: Api, out: Outcome) -> None:
    """Tier program and tiers (PUT), earning rules (by name) and rewards (409 = there), as the
    loyalty operator, after the coupon templates (``demo.seed_coupon_templates``): a coupon reward
    names its template."""
    status, answer = api.call("GET", "/v1/admin/tiers")
    if status != 200 or not isinstance(answer, dict):
        out.failed("tiers", "list", status, answer)
        answer = {}
    tiers = {t["tier_id"]: t for t in answer.get("tiers", [])}
    if not same(answer.get("program"), TIER_PROGRAM):
        status, answer = api.call("PUT", "/v1/admin/tiers", TIER_PROGRAM)
        if status != 200:
            out.failed("tier program", "", status, answer)
    for tier in DEMO_TIERS:
        body = {k: v for k, v in tier.items() if k != "tier_id"}
        if same(tiers.get(tier["tier_id"]), body):
            out.ok("tiers", tier["tier_id"])
            continue
        status, answer = api.call("PUT", f"/v1/admin/tiers/{tier['tier_id']}", body)
        if status == 200:
            out.ok("tiers", tier["tier_id"])
        else:
            out.failed("tier", tier["tier_id"], status, answer)

    seed_rules_and_rewards(api, out)


def seed_rules_and_rewards(api: Api, out: Outcome) -> None:
    """Earning rules (found by name) and rewards (409 = there)."""
    status, answer = api.call("GET", "/v1/admin/earning-rules")
    if status != 200 or not isinstance(answer, dict):
        out.failed("earning rules", "list", status, answer)
    else:
        existing = {rule["name"] for rule in answer.get("rules", [])}
        for rule in DEMO_EARNING_RULES:
            if rule["name"] not in existing:
                status, answer = api.call("POST", "/v1/admin/earning-rules", rule)
                if status != 201:
                    out.failed("earning rule", rule["name"], status, answer)
                    continue
            out.ok("earning_rules", rule["name"])

    for reward in DEMO_REWARDS:
        status, answer = api.call("POST", "/v1/admin/rewards", reward)
        if status in (201, 409):
            out.ok("rewards", reward["reward_id"])
        else:
            out.failed("reward", reward["reward_id"], status, answer)


# -- tickets -----------------------------------------------------------------------------------------


def seed_tickets(admin: Api, agent: Api, subjects: Mapping[str, str], out: Outcome) -> None:
    """Agents and routing rules (PUT unless already so, admin), knowledge-base articles (409 =
    there, an agent)."""
    status, answer = admin.call("GET", "/v1/admin/ticket-agents")
    agents = {a["agent_id"]: a for a in answer.get("items", [])} if status == 200 else {}
    status, answer = admin.call("GET", "/v1/admin/ticket-routing-rules")
    rules = {r["rule_id"]: r for r in answer.get("items", [])} if status == 200 else {}
    for person in DEMO_AGENTS:
        subject = subjects.get(person["username"])
        if not subject:
            out.failures.append(f"ticket agent {person['username']}: no staff subject")
            continue
        body = {"display_name": person["display_name"], "queues": person["queues"], "active": True}
        if same(agents.get(subject), body):
            out.ok("ticket_agents", person["username"])
            continue
        status, answer = admin.call("PUT", f"/v1/admin/ticket-agents/{subject}", body)
        if status == 200:
            out.ok("ticket_agents", person["username"])
        else:
            out.failed("ticket agent", person["username"], status, answer)
    for rule in DEMO_ROUTING_RULES:
        body = {k: v for k, v in rule.items() if k != "rule_id"}
        if same(rules.get(rule["rule_id"]), {**body, "enabled": True}):
            out.ok("routing_rules", rule["rule_id"])
            continue
        status, answer = admin.call("PUT", f"/v1/admin/ticket-routing-rules/{rule['rule_id']}", body)
        if status == 200:
            out.ok("routing_rules", rule["rule_id"])
        else:
            out.failed("routing rule", rule["rule_id"], status, answer)
    for article in DEMO_KB_ARTICLES:
        status, answer = agent.call("POST", "/v1/admin/kb-articles", article)
        if status in (201, 409):
            out.ok("kb_articles", article["article_id"])
        else:
            out.failed("kb article", article["article_id"], status, answer)


# -- campaigns ---------------------------------------------------------------------------------------


def seed_segments(api: Api, out: Outcome) -> dict[str, str]:
    """The segments (found by name, else created); returns ``{name: segment_id}``."""
    try:
        existing = {s["name"]: str(s["segment_id"]) for s in _all_pages(api, "/v1/admin/segments")}
    except LookupError as exc:
        out.failures.append(f"segments: {exc}")
        return {}
    ids: dict[str, str] = {}
    for segment in DEMO_SEGMENTS:
        if segment["name"] not in existing:
            status, answer = api.call("POST", "/v1/admin/segments", segment)
            if status != 201 or not isinstance(answer, dict):
                out.failed("segment", segment["name"], status, answer)
                continue
            existing[segment["name"]] = str(answer["segment_id"])
        ids[segment["name"]] = existing[segment["name"]]
        out.ok("segments", segment["name"])
    return ids


def seed_campaigns(api: Api, segments: Mapping[str, str], out: Outcome) -> None:
    """The campaigns (found by name, else created); the triggered congratulation activated."""
    try:
        existing = {c["name"]: c for c in _all_pages(api, "/v1/admin/campaigns")}
    except LookupError as exc:
        out.failures.append(f"campaigns: {exc}")
        return
    for spec in DEMO_CAMPAIGNS:
        name = spec["name"]
        campaign = existing.get(name)
        if campaign is None:
            body = {k: v for k, v in spec.items() if k not in ("activate", "segment")}
            if "segment" in spec:
                if spec["segment"] not in segments:
                    out.failures.append(f"campaign {name}: segment {spec['segment']} missing")
                    continue
                body["segment_id"] = segments[spec["segment"]]
            status, answer = api.call("POST", "/v1/admin/campaigns", body)
            if status != 201 or not isinstance(answer, dict):
                out.failed("campaign", name, status, answer)
                continue
            campaign = answer
        if spec["activate"] and campaign.get("status") == "draft":
            status, answer = api.call("POST", f"/v1/admin/campaigns/{campaign['campaign_id']}/launch")
            if status not in (200, 202):
                out.failed("campaign launch", name, status, answer)
                continue
        out.ok("campaigns", name)


def request_snapshot(api: Api, out: Outcome) -> bool:
    """``POST /v1/admin/audience/snapshots``: the daily materialise job, now (asynchronous)."""
    status, answer = api.call("POST", "/v1/admin/audience/snapshots")
    if status != 202:
        out.failed("audience snapshot", "", status, answer)
        return False
    return True


def preview_count(api: Api, segment_id: str) -> int | None:
    status, answer = api.call("POST", f"/v1/admin/segments/{segment_id}/preview", {"sample_size": 0})
    return int(answer["count"]) if status == 200 and isinstance(answer, dict) else None


# -- the demo purchase -------------------------------------------------------------------------------


def demo_purchase(member_id: str, now: datetime, tz: tzinfo) -> dict[str, Any]:
    """A new member's first purchase, ¥1,299 at Xiaomi Home: 1,299+ points, normal → silver."""
    occurred = (now - timedelta(minutes=1)).astimezone(tz).replace(microsecond=0)
    return {
        "external_id": "pos-demo-tier-up-0001",
        "source_system": "pos-demo",
        "store_id": "S-L3-21",
        "tenant_id": "T-XIAOMI",
        "member_id": member_id,
        "amount_cents": 129900,
        "currency": "CNY",
        "channel": "pos",
        "items": [{"sku": "MI-AIR-P4", "category": "electronics", "quantity": 1, "amount_cents": 129900}],
        "occurred_at": occurred.isoformat(),
    }


def pick_demo_member(candidates: Sequence[str], in_control: Callable[[str], bool]) -> str | None:
    """The first candidate outside campaigns' global control group (who gets no marketing)."""
    return next((m for m in candidates if not in_control(m)), None)
