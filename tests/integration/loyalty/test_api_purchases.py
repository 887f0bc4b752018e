"""LoyaltyApiFunction, POST /v1/integrations/purchases, in-process against moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.loyalty.handlers import api
from services.loyalty.models.api import PurchaseResponse
from shared.aws import client
from shared.events import PurchaseRecorded, consume
from tests.integration.helpers import FakeContext, all_items, http_event, signed_headers
from tests.integration.loyalty.conftest import KEY, NOW, TABLE

PATH = "/v1/integrations/purchases"


def purchase_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": "POS-2026-000123",
        "source_system": "pos-main",
        "store_id": "store-0101",
        "tenant_id": "tenant-uniqlo",
        "member_id": "01HX9ZK3M5N7P9Q1R3S5T7V9WX",
        "amount_cents": 25900,
        "currency": "CNY",
        "channel": "pos",
        "items": [
            {"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 19900},
            {"sku": "SKU-2", "category": "accessories", "quantity": 2, "amount_cents": 6000},
        ],
        "occurred_at": "2026-03-01T11:58:00+08:00",
    }
    body.update(overrides)
    return body


def post(
    body: dict[str, Any] | str | bytes,
    *,
    key: bytes = KEY,
    source: str = "pos-main",
    timestamp: int | None = None,
    nonce: str | None = None,
    tamper: bool = False,
) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = signed_headers(
        key,
        source=source,
        method="POST",
        path=PATH,
        body=raw,
        timestamp=timestamp if timestamp is not None else int(NOW.timestamp()),
        nonce=nonce,
    )
    sent = raw + b" " if tamper else raw
    response = api.handler(http_event("POST", PATH, body=sent, headers=headers), FakeContext())
    return response["statusCode"], json.loads(response["body"])


def items_by_entity() -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in all_items(TABLE):
        grouped.setdefault(item["entity"], []).append(item)
    return grouped


@pytest.mark.usefixtures("loyalty")
class TestRecordPurchase:
    def test_new_purchase_is_recorded_with_its_event_and_nonce(self) -> None:
        status, body = post(purchase_body())

        assert status == 201
        assert body["replayed"] is False
        assert body["external_id"] == "POS-2026-000123"
        assert body["occurred_at"] == "2026-03-01T03:58:00.000000Z"
        assert body["recorded_at"] == "2026-03-01T04:00:00.000000Z"
        stored = items_by_entity()
        # The member's balance item records the spend (tier qualification) even without earning
        # rules, in the same transaction.
        assert sorted(stored) == ["nonce", "outbox", "points_balance", "purchase"]
        (purchase,) = stored["purchase"]
        assert purchase["pk"] == "PURCHASE#pos-main#POS-2026-000123"
        assert purchase["purchase_id"] == body["purchase_id"]
        (outbox,) = stored["outbox"]
        assert (outbox["source"], outbox["detail_type"]) == ("mallcrm.loyalty", "PurchaseRecorded")
        metadata, data = consume(PurchaseRecorded, outbox["detail"])
        assert data.purchase_id == body["purchase_id"]
        assert data.amount_cents == 25900
        assert [i.category for i in data.items] == ["apparel", "accessories"]
        assert metadata.producer == "loyalty.api"

    def test_same_purchase_again_is_an_idempotent_replay(self) -> None:
        _, first = post(purchase_body())

        status, again = post(purchase_body())

        assert status == 200
        assert again["replayed"] is True
        assert again["purchase_id"] == first["purchase_id"]
        stored = items_by_entity()
        assert len(stored["purchase"]) == 1
        assert len(stored["outbox"]) == 1, "a replay publishes nothing"
        assert len(stored["nonce"]) == 2, "the replay's nonce is spent too"

    def test_same_external_id_with_other_content_is_a_conflict(self) -> None:
        post(purchase_body())
        before = all_items(TABLE)

        status, body = post(purchase_body(amount_cents=26900))

        assert status == 409
        assert body["error"]["code"] == "purchase_conflict"
        after = [i for i in all_items(TABLE) if i["entity"] != "nonce"]
        assert after == [i for i in before if i["entity"] != "nonce"]

    def test_same_instant_in_another_offset_is_still_a_replay(self) -> None:
        post(purchase_body())

        status, body = post(purchase_body(occurred_at="2026-03-01T03:58:00Z"))

        assert (status, body["replayed"]) == (200, True)

    def test_purchase_without_member_is_recorded(self) -> None:
        body = purchase_body(external_id="POS-2", member_id=None, tenant_id=None)
        status, created = post(body)
        assert status == 201
        assert created["member_id"] is None


def assert_nothing_written() -> None:
    assert all_items(TABLE) == []


@pytest.mark.usefixtures("loyalty")
class TestRejectedRequestsWriteNothing:
    def test_bad_signature(self) -> None:
        status, body = post(purchase_body(), tamper=True)
        assert (status, body["error"]["code"]) == (401, "signature_invalid")
        assert_nothing_written()

    def test_wrong_key(self) -> None:
        status, body = post(purchase_body(), key=b"not-the-key")
        assert (status, body["error"]["code"]) == (401, "signature_invalid")
        assert_nothing_written()

    def test_unknown_source(self) -> None:
        status, body = post(purchase_body(source_system="parking"), source="parking")
        assert (status, body["error"]["code"]) == (401, "signature_source_unknown")
        assert_nothing_written()

    def test_stale_timestamp(self) -> None:
        status, body = post(purchase_body(), timestamp=int(NOW.timestamp()) - 301)
        assert (status, body["error"]["code"]) == (401, "signature_timestamp_stale")
        assert_nothing_written()

    def test_missing_signature_headers(self) -> None:
        event = http_event("POST", PATH, body=json.dumps(purchase_body()))
        response = api.handler(event, FakeContext())
        assert response["statusCode"] == 401
        assert_nothing_written()

    def test_nonce_replay(self) -> None:
        status, _ = post(purchase_body(), nonce="nonce-0000000000000001")
        assert status == 201
        before = all_items(TABLE)

        status, body = post(purchase_body(), nonce="nonce-0000000000000001")
        assert (status, body["error"]["code"]) == (401, "signature_nonce_reused")
        status, body = post(purchase_body(external_id="POS-OTHER"), nonce="nonce-0000000000000001")
        assert (status, body["error"]["code"]) == (401, "signature_nonce_reused")

        assert all_items(TABLE) == before

    def test_malformed_json(self) -> None:
        status, body = post('{"external_id": ')
        assert (status, body["error"]["code"]) == (400, "malformed_json")
        assert_nothing_written()

    def test_wrong_types_name_the_fields(self) -> None:
        status, body = post(
            purchase_body(amount_cents="259.00", occurred_at="2026-03-01T11:58:00", channel="fax")
        )
        assert (status, body["error"]["code"]) == (422, "validation_failed")
        fields = {f["field"] for f in body["error"]["fields"]}
        assert fields == {"amount_cents", "occurred_at", "channel"}
        assert_nothing_written()

    def test_bad_item_line_names_the_nested_field(self) -> None:
        items = [{"sku": "SKU-1", "category": "apparel", "quantity": 0, "amount_cents": 100}]
        status, body = post(purchase_body(items=items))
        assert status == 422
        assert [f["field"] for f in body["error"]["fields"]] == ["items.0.quantity"]
        assert_nothing_written()

    def test_unknown_field(self) -> None:
        status, body = post(purchase_body(points=100))
        assert status == 422
        assert [f["field"] for f in body["error"]["fields"]] == ["points"]
        assert_nothing_written()

    def test_non_positive_amount(self) -> None:
        status, _ = post(purchase_body(amount_cents=0))
        assert status == 422
        assert_nothing_written()

    def test_source_system_other_than_the_signer(self) -> None:
        status, body = post(purchase_body(source_system="online-mall"))
        assert (status, body["error"]["code"]) == (403, "source_mismatch")
        assert_nothing_written()

    def test_purchase_in_the_future(self) -> None:
        status, body = post(purchase_body(occurred_at="2026-03-01T04:10:00Z"))
        assert status == 422
        assert [f["field"] for f in body["error"]["fields"]] == ["occurred_at"]
        assert_nothing_written()


@pytest.mark.usefixtures("loyalty")
def test_integration_keys_are_cached_per_container() -> None:
    calls: list[str] = []

    def count_get_secret_value(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["SecretId"])

    events = client("secretsmanager").meta.events
    events.register("provide-client-params.secrets-manager.GetSecretValue", count_get_secret_value)
    try:
        post(purchase_body())
        post(purchase_body(external_id="POS-2"))
    finally:
        events.unregister("provide-client-params.secrets-manager.GetSecretValue", count_get_secret_value)
    # Each secret once: the integration keys and (purchases with a member) the pseudonym key.
    assert len(calls) == len(set(calls)) == 2
    assert any("integration-keys" in c for c in calls)


def raw_post(body: dict[str, Any]) -> tuple[int, str]:
    raw = json.dumps(body).encode()
    headers = signed_headers(
        KEY, source="pos-main", method="POST", path=PATH, body=raw, timestamp=int(NOW.timestamp())
    )
    response = api.handler(http_event("POST", PATH, body=raw, headers=headers), FakeContext())
    return response["statusCode"], response["body"]


def as_the_model_dumps(text: str) -> str:
    """The body as the resolver would have dumped a validated PurchaseResponse."""
    model = PurchaseResponse.model_validate(json.loads(text))
    return json.dumps(model.model_dump(mode="json"), separators=(",", ":"))


@pytest.mark.usefixtures("loyalty")
class TestResponseBodyIsThePurchaseResponse:
    """The route writes its JSON text itself (hot path): it must be byte for byte what dumping a
    validated PurchaseResponse gives, for every shape of answer (with points: ledger_support.signed
    checks every purchase the points tests post)."""

    def test_new_purchase_of_a_member(self) -> None:
        status, text = raw_post(purchase_body())
        assert status == 201
        assert text == as_the_model_dumps(text)

    def test_replay_and_purchase_without_member(self) -> None:
        raw_post(purchase_body())
        status, replay = raw_post(purchase_body())
        assert status == 200
        assert replay == as_the_model_dumps(replay)
        status, anonymous = raw_post(
            purchase_body(external_id="POS-3", member_id=None, tenant_id=None, store_id="store-0101")
        )
        assert status == 201
        assert anonymous == as_the_model_dumps(anonymous)
        assert json.loads(anonymous)["points_status"] is None

    def test_non_ascii_line_text_is_escaped_as_before(self) -> None:
        lines = [{"sku": "衬衫-1", "category": "服装", "quantity": 1, "amount_cents": 25900}]
        status, text = raw_post(purchase_body(external_id="POS-4", items=lines))
        assert status == 201
        assert text == as_the_model_dumps(text)
        assert "\\u886c" in text
