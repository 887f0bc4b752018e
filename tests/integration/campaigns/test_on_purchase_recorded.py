"""CampaignsOnPurchaseRecordedFunction: the last-purchase projection."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.campaigns.handlers import on_purchase_recorded
from shared.events import PurchaseRecorded
from tests.integration.campaigns.conftest import TABLE
from tests.integration.helpers import FakeContext, all_items, contract_bus_event, sqs_event

MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def purchase(at: datetime, purchase_id: str = "P1", member_id: str | None = MEMBER) -> PurchaseRecorded:
    return PurchaseRecorded(
        purchase_id=purchase_id,
        external_id=f"E-{purchase_id}",
        source_system="pos-main",
        member_id=member_id,
        store_id="store-1",
        tenant_id=None,
        amount_cents=100,
        channel="pos",
        occurred_at=at,
    )


def consume(*bodies: Mapping[str, Any] | str) -> dict[str, Any]:
    result: dict[str, Any] = on_purchase_recorded.handler(sqs_event(bodies), FakeContext())
    return result


def projection() -> list[dict[str, Any]]:
    return [i for i in all_items(TABLE) if i["entity"] == "member_last_purchase"]


@pytest.mark.usefixtures("campaigns")
class TestLastPurchaseProjection:
    def test_purchase_sets_the_last_purchase(self) -> None:
        assert consume(contract_bus_event(purchase(AT))) == {"batchItemFailures": []}
        (item,) = projection()
        assert (item["pk"], item["sk"]) == (f"MEMBER#{MEMBER}", "LAST_PURCHASE")
        assert (item["last_purchase_at"], item["last_purchase_id"]) == ("2026-03-01T04:00:00.000000Z", "P1")

    def test_only_a_later_purchase_moves_it(self) -> None:
        consume(contract_bus_event(purchase(AT, "P2")))
        consume(contract_bus_event(purchase(AT - timedelta(days=1), "P1")))  # late, older event
        assert projection()[0]["last_purchase_id"] == "P2"
        consume(contract_bus_event(purchase(AT + timedelta(hours=1), "P3")))
        assert projection()[0]["last_purchase_id"] == "P3"

    def test_same_event_twice_has_one_effect(self) -> None:
        event = contract_bus_event(purchase(AT))
        assert consume(event, event) == {"batchItemFailures": []}
        assert len(projection()) == 1

    def test_purchase_without_member_is_ignored(self) -> None:
        consume(contract_bus_event(purchase(AT, member_id=None)))
        assert all_items(TABLE) == []

    def test_only_the_bad_record_fails(self) -> None:
        bad = contract_bus_event(purchase(AT, "P9"))
        bad["detail"]["data"]["occurred_at"] = "not a time"
        batch = sqs_event([contract_bus_event(purchase(AT)), bad])
        result = on_purchase_recorded.handler(batch, FakeContext())
        assert result == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
        assert len(projection()) == 1
