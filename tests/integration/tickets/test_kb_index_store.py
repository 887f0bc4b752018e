# ruff: noqa: RUF001 - Chinese test texts use Chinese (full-width) punctuation
"""The stored, pre-built knowledge-base index: written when an article changes, loaded (not built)
by a cold function, rebuilt and stored when the stored one is stale or damaged, chunked under
DynamoDB's item limit, the previous version's chunks removed."""

from __future__ import annotations

from typing import Any

import pytest

from services.tickets.dal import kb as kb_dal
from services.tickets.logic.kb import KbSnapshot
from tests.integration.tickets.support import TABLE, items, member_call, staff_call

pytestmark = pytest.mark.usefixtures("tickets_env")

ARTICLES = [
    (
        "parking-fees",
        "停车收费标准",
        "首小时免费，之后每小时 5 元；金卡会员每天免费停车 3 小时。",
        "parking_fee",
    ),
    ("opening-hours", "商场营业时间", "周一至周四 10:00-22:00，周五至周日 10:00-22:30。", "opening_hours"),
    ("lost-found", "失物招领", "遗失物品请到一楼服务台登记，捡到的物品保存 30 天。", None),
]


def _publish() -> None:
    for article_id, title, body, intent in ARTICLES:
        status, answer = staff_call(
            "POST",
            "/v1/admin/kb-articles",
            body={"article_id": article_id, "title": title, "body": body, "intent": intent},
        )
        assert status == 201, answer


def _index_items() -> list[dict[str, Any]]:
    return [i for i in items() if i["pk"] == "KB" and str(i["sk"]).startswith("INDEX")]


def _search(q: str) -> list[str]:
    status, body = member_call("GET", "/v1/kb/search", query={"q": q})
    assert status == 200, body
    return [hit["article_id"] for hit in body["items"]]


def _no_build(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> KbSnapshot:
        raise AssertionError("the index was built, not loaded")

    monkeypatch.setattr(KbSnapshot, "build", refuse)


def test_an_article_change_stores_the_index_and_a_cold_function_loads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _publish()
    repo = kb_dal.DynamoKbRepository(TABLE)
    head = next(i for i in _index_items() if i["sk"] == "INDEX")
    assert head["version"] == repo.version() == 3
    kb_dal.clear_index_cache()  # a cold function
    _no_build(monkeypatch)
    assert _search("停车收费")[0] == "parking-fees"
    _status, body = member_call("GET", "/v1/kb/search", query={"q": "失物招领在哪里"})
    assert body["items"][0]["title"] == "失物招领" and body["items"][0]["excerpt"].startswith("遗失物品")


def test_the_previous_versions_chunks_are_removed() -> None:
    _publish()
    chunks = sorted(str(i["sk"]) for i in _index_items() if i["sk"] != "INDEX")
    assert chunks == ["INDEX#0000000003#0000"]


def test_a_stale_index_is_rebuilt_and_stored_by_the_first_search() -> None:
    _publish()
    repo = kb_dal.DynamoKbRepository(TABLE)
    # An article written while the refresh failed: the stored index names version 3, META is 4.
    repo.client.update_item(
        TableName=TABLE,
        Key={"pk": {"S": "KB"}, "sk": {"S": "META"}},
        UpdateExpression="ADD version :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    kb_dal.clear_index_cache()
    assert repo.load_stored(4) is None
    assert _search("营业时间")[0] == "opening-hours"
    head = next(i for i in _index_items() if i["sk"] == "INDEX")
    assert head["version"] == 4
    assert repo.load_stored(4) is not None


def test_a_damaged_chunk_is_not_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    _publish()
    repo = kb_dal.DynamoKbRepository(TABLE)
    repo.client.put_item(
        TableName=TABLE,
        Item={"pk": {"S": "KB"}, "sk": {"S": "INDEX#0000000003#0000"}, "data": {"B": b"KBX1garbage"}},
    )
    assert repo.load_stored(3) is None
    kb_dal.clear_index_cache()
    assert _search("停车")[0] == "parking-fees"  # built from the articles instead


def test_a_large_index_is_split_into_chunks_and_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kb_dal, "PART_BYTES", 200)
    _publish()
    parts = [i for i in _index_items() if i["sk"] != "INDEX"]
    head = next(i for i in _index_items() if i["sk"] == "INDEX")
    assert len(parts) == head["parts"] > 1
    kb_dal.clear_index_cache()
    _no_build(monkeypatch)
    assert _search("金卡会员免费停车")[0] == "parking-fees"


def test_the_head_never_moves_back() -> None:
    _publish()
    repo = kb_dal.DynamoKbRepository(TABLE)
    old = repo.build(2)
    assert repo.store(old) is False
    head = next(i for i in _index_items() if i["sk"] == "INDEX")
    assert head["version"] == 3
    assert not [i for i in _index_items() if str(i["sk"]).startswith("INDEX#0000000002#")]


def test_an_automatic_answer_reads_only_the_chosen_article(monkeypatch: pytest.MonkeyPatch) -> None:
    _publish()
    kb_dal.clear_index_cache()
    _no_build(monkeypatch)
    read: list[str] = []
    original = kb_dal.DynamoKbRepository.get

    def counting(self: kb_dal.DynamoKbRepository, article_id: str) -> Any:
        read.append(article_id)
        return original(self, article_id)

    monkeypatch.setattr(kb_dal.DynamoKbRepository, "get", counting)
    status, ticket = member_call("POST", "/v1/members/me/tickets", {"text": "请问商场几点关门？"})
    assert status == 201, ticket
    assert ticket["auto_reply"]["intent"] == "opening_hours"
    assert read == ["opening-hours"]
