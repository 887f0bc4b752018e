"""LoyaltyOnMemberErasedFunction on moto: the erased member's purchases stay (accounting) under a
keyed pseudonym; other members' purchases are untouched; redelivery is harmless."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.loyalty.handlers import on_member_erased
from services.loyalty.logic.privacy import pseudonym
from shared import secrets as shared_secrets
from shared.events.contracts import MemberErased
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, sqs_event
from tests.integration.loyalty.conftest import TABLE
from tests.integration.loyalty.test_api_purchases import post, purchase_body

MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
OTHER = "01HX9ZK3M5N7P9Q1R3S5T7V9WY"
KEY = "loyalty-pseudonym-key-0123456789abcdef0123"


@pytest.fixture
def erasable(loyalty: None, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = aws("secretsmanager").create_secret(Name="mallcrm/test/loyalty-pseudonym", SecretString=KEY)["ARN"]
    monkeypatch.setenv("PSEUDONYM_KEY_SECRET_ARN", arn)
    shared_secrets.clear_cache()


def erased(member: str = MEMBER) -> dict[str, Any]:
    return contract_bus_event(
        MemberErased(member_id=member, erased_at=datetime(2026, 3, 2, tzinfo=UTC), requested_by="member")
    )


def purchases() -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if i["entity"] == "purchase"]


@pytest.mark.usefixtures("erasable")
def test_the_ledger_is_kept_under_a_pseudonym():
    assert post(purchase_body(external_id="P-1"))[0] == 201
    assert (
        post(
            purchase_body(
                external_id="P-2",
                amount_cents=100,
                items=[{"sku": "S", "category": "c", "quantity": 1, "amount_cents": 100}],
            )
        )[0]
        == 201
    )
    assert post(purchase_body(external_id="P-3", member_id=OTHER))[0] == 201

    for _ in range(2):  # a redelivery changes nothing
        assert on_member_erased.handler(sqs_event([erased()]), FakeContext()) == {"batchItemFailures": []}

    alias = pseudonym(KEY.encode(), MEMBER)
    by_id = {p["external_id"]: p for p in purchases()}
    assert {by_id["P-1"]["member_id"], by_id["P-2"]["member_id"]} == {alias}
    assert by_id["P-1"]["gsi1pk"] == f"MEMBER#{alias}"
    assert by_id["P-1"]["amount_cents"] == 25900  # the accounting facts stay
    assert by_id["P-3"]["member_id"] == OTHER
    assert not [p for p in purchases() if MEMBER in (p.get("member_id"), p.get("gsi1pk", "")[7:])]


@pytest.mark.usefixtures("erasable")
def test_a_replayed_purchase_after_erasure_answers_with_the_pseudonym():
    body = purchase_body(external_id="P-9")
    assert post(body)[0] == 201
    on_member_erased.handler(sqs_event([erased()]), FakeContext())
    status, answer = post(body)
    assert status == 200 and answer["replayed"] is True
    assert answer["member_id"] == pseudonym(KEY.encode(), MEMBER)
    assert answer["member_status"] == "erased"


@pytest.mark.usefixtures("erasable")
def test_the_consumer_keeps_a_pseudonymous_tombstone():
    for _ in range(2):
        on_member_erased.handler(sqs_event([erased()]), FakeContext())
    alias = pseudonym(KEY.encode(), MEMBER)
    tombstones = [i for i in all_items(TABLE) if i["entity"] == "erasure_tombstone"]
    assert [(t["pk"], t["sk"]) for t in tombstones] == [(f"ERASED#{alias}", "ERASED")]
    assert tombstones[0]["erased_at"].startswith("2026-03-02T00:00:00")
    assert MEMBER not in json.dumps(tombstones) and "ttl" not in tombstones[0]


@pytest.mark.usefixtures("erasable")
def test_a_purchase_for_an_erased_member_is_recorded_as_such_not_under_the_id():
    on_member_erased.handler(sqs_event([erased()]), FakeContext())
    alias = pseudonym(KEY.encode(), MEMBER)

    body = purchase_body(external_id="P-LATE")
    status, answer = post(body)
    assert status == 201, answer
    assert answer["member_id"] == alias and answer["member_status"] == "erased"
    assert answer["replayed"] is False
    stored = next(p for p in purchases() if p["external_id"] == "P-LATE")
    assert stored["member_id"] == alias and stored["gsi1pk"] == f"MEMBER#{alias}"
    assert stored["member_status"] == "erased" and stored["amount_cents"] == 25900
    recorded = [i for i in all_items(TABLE) if i["entity"] == "outbox"]
    assert len(recorded) == 1 and json.loads(recorded[0]["detail"])["data"]["member_id"] is None
    assert MEMBER not in json.dumps(all_items(TABLE), default=str)

    # A retry is still a replay (200, nothing new); another member's purchase is unaffected.
    status, again = post(body)
    assert status == 200 and again["replayed"] is True and again["member_status"] == "erased"
    assert len([i for i in all_items(TABLE) if i["entity"] == "outbox"]) == 1
    status, other = post(purchase_body(external_id="P-OTHER", member_id=OTHER))
    assert status == 201 and other["member_id"] == OTHER and other["member_status"] is None
    # A redelivered MemberErased finds nothing under the id and keeps the tombstone.
    assert on_member_erased.handler(sqs_event([erased()]), FakeContext()) == {"batchItemFailures": []}
    assert len([p for p in purchases() if p["member_id"] == alias]) == 1
