"""MembersOnPurchaseRecordedFunction in-process against moto: statistics, idempotency, partial
batch failure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from services.members.handlers import on_purchase_recorded
from shared import clock
from shared.events import PurchaseItem, PurchaseRecorded, PurchaseRefunded
from tests.integration.helpers import FakeContext, all_items, contract_bus_event, create_table, sqs_event

TABLE = "mallcrm-test-members"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
AT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def members(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    create_table(TABLE, gsi1=True)
    monkeypatch.setenv("SERVICE_NAME", "members")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "members")
    monkeypatch.setenv("TABLE_NAME", TABLE)
    clock.set_clock(lambda: AT)
    yield


def purchase(
    external_id: str = "POS-1", cents: int = 25900, member_id: str | None = MEMBER
) -> PurchaseRecorded:
    return PurchaseRecorded(
        purchase_id=f"P-{external_id}",
        external_id=external_id,
        source_system="pos-main",
        member_id=member_id,
        store_id="store-0101",
        tenant_id=None,
        amount_cents=cents,
        channel="pos",
        items=[PurchaseItem(sku="SKU-1", category="apparel", quantity=1, amount_cents=cents)],
        occurred_at=AT,
    )


def consume(*bodies: Mapping[str, Any] | str) -> dict[str, Any]:
    result: dict[str, Any] = on_purchase_recorded.handler(sqs_event(bodies), FakeContext())
    return result


def stats_item() -> dict[str, Any]:
    (item,) = [i for i in all_items(TABLE) if i["entity"] == "member_stats"]
    return item


@pytest.mark.usefixtures("members")
class TestBehaviourStatistics:
    def test_purchase_creates_the_statistics(self) -> None:
        assert consume(contract_bus_event(purchase())) == {"batchItemFailures": []}

        item = stats_item()
        assert item["pk"] == f"MEMBER#{MEMBER}"
        assert (item["purchase_count"], item["spend_cents"]) == (1, 25900)
        assert item["last_purchase_at"] == item["first_purchase_at"] == "2026-03-01T04:00:00.000000Z"
        assert item["days"] == {"2026-03-01": {"count": 1, "spend_cents": 25900}}
        assert item["category_spend_cents"] == {"apparel": 25900}
        assert item["store_purchase_count"] == {"store-0101": 1}
        assert item["gsi1pk"].startswith("STATS#")
        assert item["version"] == 1

    def test_second_purchase_adds_up(self) -> None:
        consume(contract_bus_event(purchase("POS-1", 1000)))
        consume(contract_bus_event(purchase("POS-2", 500)))
        item = stats_item()
        assert (item["purchase_count"], item["spend_cents"], item["version"]) == (2, 1500, 2)

    def test_same_event_twice_has_one_effect(self) -> None:
        once = contract_bus_event(purchase())

        assert consume(once, once) == {"batchItemFailures": []}
        assert consume(once) == {"batchItemFailures": []}

        item = stats_item()
        assert (item["purchase_count"], item["spend_cents"]) == (1, 25900)
        markers = [i for i in all_items(TABLE) if i["entity"] == "idempotency"]
        assert len(markers) == 1
        assert markers[0]["sk"] == "CONSUMER#members.on_purchase_recorded"

    def test_refund_lowers_net_spend(self) -> None:
        consume(contract_bus_event(purchase(cents=25900)))
        refund = PurchaseRefunded(
            refund_id="R1",
            external_id="POS-REF-1",
            source_system="pos-main",
            purchase_id="P-POS-1",
            member_id=MEMBER,
            store_id="store-0101",
            amount_cents=5900,
            full_refund=False,
            occurred_at=AT,
        )
        consume(contract_bus_event(refund))
        item = stats_item()
        assert (item["spend_cents"], item["refund_count"], item["purchase_count"]) == (20000, 1, 1)

    def test_purchase_without_a_member_changes_nothing(self) -> None:
        assert consume(contract_bus_event(purchase(member_id=None))) == {"batchItemFailures": []}
        assert all_items(TABLE) == []

    def test_only_the_bad_record_of_a_batch_fails(self) -> None:
        good = contract_bus_event(purchase("POS-1"))
        broken = contract_bus_event(purchase("POS-2"))
        del broken["detail"]["data"]["amount_cents"]
        batch = sqs_event([good, broken])

        result = on_purchase_recorded.handler(batch, FakeContext())

        assert result == {"batchItemFailures": [{"itemIdentifier": batch["Records"][1]["messageId"]}]}
        assert stats_item()["purchase_count"] == 1

    def test_unsupported_event_version_fails_the_record(self) -> None:
        newer = contract_bus_event(purchase())
        newer["detail"]["metadata"]["event_version"] = 2
        batch = sqs_event([newer])
        result = on_purchase_recorded.handler(batch, FakeContext())
        assert len(result["batchItemFailures"]) == 1
        assert all_items(TABLE) == []
