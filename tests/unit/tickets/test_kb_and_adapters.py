# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""BM25 ranking over segmented text, automatic answers, and the two outside adapters (Scheduler
timer names; LoyaltyOffersFunction's list_rewards answer parsed, its failures raised)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.tickets.dal import adapters
from services.tickets.logic.kb import Bm25Index, auto_answer, reward_answer
from services.tickets.models.entities import KbArticle
from shared import aws

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _article(article_id: str, title: str, body: str, intent: str | None = None) -> KbArticle:
    return KbArticle(
        article_id=article_id, title=title, body=body, intent=intent, updated_at=NOW, updated_by="a"
    )


def test_bm25_prefers_the_rarer_matching_term_and_titles() -> None:
    index = Bm25Index(
        [
            ("parking", "停车收费标准\n停车收费标准\n首小时免费，之后每小时5元"),
            ("points", "积分规则\n积分规则\n消费1元积1分，积分可兑换礼品"),
            ("hours", "营业时间\n营业时间\n每天10点到22点"),
            ("generic", "服务指南\n服务指南\n停车 积分 营业 服务"),
        ]
    )
    assert index.search("停车怎么收费", 2)[0].article_id == "parking"
    assert index.search("积分兑换礼品", 1)[0].article_id == "points"
    assert index.search("完全无关的词语", 3) == []
    assert len(index) == 4


def test_reward_answers_name_the_reward_or_list_the_cheapest() -> None:
    rewards = [
        {"name": "咖啡券", "points_cost": 800, "in_stock": True},
        {"name": "电影票", "points_cost": 1500, "in_stock": False},
    ]
    named = reward_answer("电影票要多少积分", rewards)
    assert named is not None and "电影票" in named and "1500" in named and "咖啡券" not in named
    listed = reward_answer("多少积分可以换东西", rewards)
    assert listed is not None and listed.index("咖啡券") < listed.index("电影票")
    assert reward_answer("多少积分", []) is None


def test_auto_answer_uses_the_published_article_or_nothing() -> None:
    hours = _article("h", "营业时间", "每天10:00-22:00", intent="opening_hours")
    answer = auto_answer("几点关门", article_for={"opening_hours": hours}.get, rewards=list)
    assert answer is not None and answer.article_id == "h" and "22:00" in answer.body
    no_articles: dict[str, KbArticle] = {}
    assert auto_answer("停车怎么收费", article_for=no_articles.get, rewards=list) is None
    assert auto_answer("店员态度差", article_for={"opening_hours": hours}.get, rewards=list) is None


def test_timer_names_fit_schedulers_limit() -> None:
    name = adapters.timer_name("prod", "01HZ1111111111111111111111", "resolution", NOW)
    assert len(name) <= 64 and name.endswith(f"-rs-{int(NOW.timestamp())}")
    fake = adapters.RecordingSlaTimers()
    assert fake.schedule("t", "first_response", NOW) is True
    assert fake.schedule("t", "first_response", NOW) is False


class _StubLambda:
    def __init__(self, answer: dict[str, Any], error: str | None = None) -> None:
        self.answer, self.error = answer, error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps(self.answer).encode()),
        }
        if self.error:
            response["FunctionError"] = self.error
        return response


def test_list_rewards_is_a_request_response_invoke_of_contract_a(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = _StubLambda(
        {"rewards": [{"reward_id": "r", "name": "咖啡券", "points_cost": 800, "in_stock": True}, {"x": 1}]}
    )
    monkeypatch.setattr(aws, "client", lambda service: stub)  # the adapters' shared.aws
    rewards = adapters.LambdaRewardsCatalogue("arn:offers").list_rewards()
    assert [r["name"] for r in rewards] == ["咖啡券"]
    call = stub.calls[0]
    assert (call["FunctionName"], call["InvocationType"]) == ("arn:offers", "RequestResponse")
    assert json.loads(call["Payload"]) == {"action": "list_rewards"}
    failing = _StubLambda({"errorMessage": "boom"}, error="Unhandled")
    monkeypatch.setattr(aws, "client", lambda service: failing)
    with pytest.raises(RuntimeError):
        adapters.LambdaRewardsCatalogue("arn:offers").list_rewards()


def test_an_index_from_stored_term_counts_ranks_as_one_from_text() -> None:
    from services.tickets.logic.kb import term_counts

    docs = [
        ("parking", "停车收费标准 首小时免费 之后每小时5元"),
        ("points", "积分规则 消费1元积1分 积分可兑换礼品"),
        ("hours", "营业时间 每天10点到22点 节假日延长"),
    ]
    from_text = Bm25Index(docs)
    from_terms = Bm25Index.from_term_counts((d, term_counts(t)) for d, t in docs)
    for query in ("停车收费", "积分兑换", "几点营业"):
        assert from_text.search(query) == from_terms.search(query)


def test_a_snapshot_survives_bytes_and_ranks_as_the_index_it_came_from() -> None:
    from services.tickets.logic.kb import KbSnapshot

    rows = [
        (_article("parking", "停车收费标准", "首小时免费，之后每小时5元", "parking_fee"), None),
        (_article("points", "积分规则", "消费1元积1分，积分可兑换礼品"), None),
        (_article("hours", "营业时间", "每天10点到22点，节假日延长", "opening_hours"), None),
    ]
    draft = _article("draft", "停车新规", "草稿")
    snapshot = KbSnapshot.build(7, [*rows, (draft.model_copy(update={"status": "draft"}), None)])
    loaded = KbSnapshot.from_bytes(snapshot.to_bytes())
    assert loaded.version == 7 and set(loaded.cards) == {"parking", "points", "hours"}
    assert loaded.cards == snapshot.cards
    assert loaded.index.term_count == snapshot.index.term_count
    for query in ("停车收费", "积分兑换", "几点营业", "parking", "没有的词"):
        assert loaded.index.search(query) == snapshot.index.search(query)
    assert loaded.newest_for_intent("opening_hours") == "hours"
    assert loaded.newest_for_intent("reward_points") is None
    assert snapshot.to_bytes() == KbSnapshot.build(7, rows).to_bytes()  # deterministic


@pytest.mark.parametrize("blob", [b"", b"KBX1not-zlib", b"JSON{}"])
def test_anything_else_is_not_a_snapshot(blob: bytes) -> None:
    from services.tickets.logic.kb import KbSnapshot

    with pytest.raises(ValueError):
        KbSnapshot.from_bytes(blob)
