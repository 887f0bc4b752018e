# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""Segmentation, search terms and PII scrubbing; priority, routing and SLA rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TypedDict

import pytest

from services.tickets.logic import policy, text
from services.tickets.models.entities import RoutingRule

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_chinese_is_segmented_into_words_and_english_split() -> None:
    assert text.segment("停车费太贵了，Parking FEES!") == ["停车费", "太贵", "了", "parking", "fees"]
    assert "积分" in text.search_terms("我的积分没有到账")
    assert "的" not in text.search_terms("我的积分没有到账")
    assert text.search_terms("refunds returned") == ["refund", "return"]


def test_without_the_library_chinese_falls_back_to_bigrams(monkeypatch: pytest.MonkeyPatch) -> None:
    text._segmenter.cache_clear()
    monkeypatch.setattr(text, "_segmenter", lambda: text._bigrams)
    try:
        assert text.segment("停车收费") == ["停车", "车收", "收费"]
    finally:
        monkeypatch.undo()
        text._segmenter.cache_clear()


def test_scrub_pii_removes_contacts_ids_plates_and_names() -> None:
    raw = (
        "我叫李四，电话 138-1234-5678，身份证 110101199003071234，车牌沪A12345，"
        "邮箱 li@example.com，订单 12345678"
    )
    cleaned = text.scrub_pii(raw)
    for secret in ("李四", "1234-5678", "110101199003071234", "沪A12345", "li@example.com", "12345678"):
        assert secret not in cleaned
    assert "[phone]" in cleaned and "[plate]" in cleaned
    assert text.scrub_pii("My name is John Smith, call +86 13812345678") == "[name], call [phone]"


def test_names_the_member_stated_are_learned_and_removed_without_a_cue() -> None:
    texts = ["我叫王小明，会员卡丢了", "my name is John Smith", "我是会员，I am Angry"]
    names = text.name_forms(texts)
    # The strong cues only: "我是会员" and "I am Angry" teach nothing.
    assert names == {"王小明", "王小", "John Smith", "John", "Smith"}
    assert text.scrub_pii("王小明的积分没到账；John called; Johnson stays", names) == (
        "[name]的积分没到账；[name] called; Johnson stays"
    )
    # Forms of address are scrubbed with no learned name at all.
    assert text.scrub_pii("尊敬的李女士，张先生来电；Dear Mr. Chen Wei") == (
        "尊敬的[name]女士，[name]先生来电；Dear Mr. [name]"
    )
    assert text.scrub_pii("这位女士的先生") == "这位女士的先生"  # no surname, no name


@pytest.mark.parametrize(
    ("category", "sentiment", "angry", "value", "expected"),
    [
        ("inquiry", "neutral", False, None, "low"),
        ("suggestion", "neutral", False, "high", "low"),
        ("complaint", "neutral", False, None, "medium"),
        ("complaint", "negative", False, None, "high"),
        ("complaint", "negative", True, None, "high"),
        ("complaint", "negative", True, "high", "urgent"),
        ("points_dispute", "neutral", False, "high", "high"),
        ("inquiry", "negative", True, None, "medium"),
    ],
)
def test_priority(category: str, sentiment: str, angry: bool, value: str | None, expected: str) -> None:
    assert policy.priority_for(category, sentiment=sentiment, angry=angry, value_level=value) == expected


def test_escalation_stops_at_urgent() -> None:
    assert policy.escalate("high") == "urgent"
    assert policy.escalate("urgent") == "urgent"
    assert policy.priority_rank("urgent") < policy.priority_rank("low")


class _Facts(TypedDict):
    """The ticket facts policy.route takes besides category, topic and rules."""

    store_id: str | None
    tenant_id: str | None
    channel: str


def test_routing_rules_then_defaults() -> None:
    rule = RoutingRule(
        rule_id="r1",
        position=1,
        match={"topic": "coupon"},
        queue="loyalty_desk",
        updated_at=NOW,
        updated_by="admin",
    )
    disabled = rule.model_copy(update={"rule_id": "r0", "position": 0, "queue": "parking", "enabled": False})
    facts: _Facts = {"store_id": None, "tenant_id": None, "channel": "mini_program"}
    assert policy.route(category="inquiry", topic="coupon", rules=[rule, disabled], **facts) == (
        "loyalty_desk",
        "rule:r1",
    )
    assert policy.route(category="points_dispute", topic="points", **facts)[0] == "loyalty_desk"
    assert policy.route(category="inquiry", topic="parking", **facts)[0] == "parking"
    tenant: _Facts = {**facts, "tenant_id": "t-1"}
    assert policy.route(category="after_sales", topic="other", **tenant)[0] == "tenant:t-1"
    assert policy.route(category="suggestion", topic="other", **tenant)[0] == "front_desk"


def test_sla_targets_tighten_with_priority() -> None:
    first, resolution = policy.due_times("urgent", NOW)
    assert (first - NOW, resolution - NOW) == (timedelta(minutes=15), timedelta(hours=4))
    assert policy.due_times("low", NOW)[1] - NOW == timedelta(hours=72)
