"""MembersOnActivityFunction in-process against moto: parking visits, resolved tickets and survey
answers into the statistics, once per event; then the nightly job tags a member from them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.members.dal.tag_rules import DynamoTagRuleRepository
from services.members.handlers import on_activity, on_purchase_recorded, scoring
from services.members.logic.tags import TagRule, parse
from shared import clock
from shared.events import PurchaseItem, PurchaseRecorded
from shared.events.contracts import ParkingSessionSettled, SurveyAnswered, TicketResolved
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, create_table, sqs_event

TABLE = "mallcrm-test-members"
MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
SATURDAY = datetime(2026, 6, 27, 2, 0, tzinfo=UTC)  # 10:00 on Saturday 27 June in Shanghai
TUESDAY = datetime(2026, 6, 23, 2, 0, tzinfo=UTC)
AS_OF = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)  # 02:00 on 1 July in Shanghai


@pytest.fixture
def members(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    create_table(TABLE, gsi1=True)
    monkeypatch.setenv("SERVICE_NAME", "members")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "members")
    monkeypatch.setenv("TABLE_NAME", TABLE)
    clock.set_clock(lambda: AS_OF)
    yield


def parking(
    session_id: str, entered: datetime, minutes: int, member_id: str | None = MEMBER
) -> ParkingSessionSettled:
    return ParkingSessionSettled(
        session_id=session_id,
        member_id=member_id,
        vehicle_ref="ab" * 32,
        entered_at=entered,
        exited_at=entered + timedelta(minutes=minutes),
        fee_cents=3_000,
        paid_cents=0,
        free_minutes_applied=120,
    )


def ticket(ticket_id: str, category: str = "complaint") -> TicketResolved:
    return TicketResolved.model_validate(
        {
            **TicketResolved.EXAMPLE,
            "ticket_id": ticket_id,
            "member_id": MEMBER,
            "category": category,
            "opened_at": "2026-06-20T03:00:00.000000Z",
            "resolved_at": "2026-06-20T05:00:00.000000Z",
        }
    )


def survey(survey_id: str, csat: int, at: datetime) -> SurveyAnswered:
    return SurveyAnswered(survey_id=survey_id, ticket_id="T1", member_id=MEMBER, csat=csat, answered_at=at)


def consume(*bodies: Mapping[str, Any] | str) -> dict[str, Any]:
    result: dict[str, Any] = on_activity.handler(sqs_event(bodies), FakeContext())
    return result


def stats_item() -> dict[str, Any]:
    (item,) = [i for i in all_items(TABLE) if i["entity"] == "member_stats"]
    return item


@pytest.mark.usefixtures("members")
class TestActivityStatistics:
    def test_parking_visits_duration_and_weekend(self) -> None:
        result = consume(
            contract_bus_event(parking("S1", SATURDAY, 200)),
            contract_bus_event(parking("S2", TUESDAY, 40)),
        )
        assert result == {"batchItemFailures": []}
        item = stats_item()
        assert (item["parking_sessions"], item["parking_minutes"]) == (2, 240)
        assert (item["parking_weekend_sessions"], item["parking_weekend_minutes"]) == (1, 200)
        assert item["days"]["2026-06-27"] == {
            "count": 0,
            "spend_cents": 0,
            "parking_count": 1,
            "parking_minutes": 200,
        }
        assert "last_purchase_at" not in item

    def test_a_redelivered_session_counts_once(self) -> None:
        body = contract_bus_event(parking("S1", SATURDAY, 200))
        consume(body)
        consume(body)
        assert stats_item()["parking_sessions"] == 1

    def test_a_car_without_a_member_is_ignored(self) -> None:
        assert consume(contract_bus_event(parking("S9", SATURDAY, 60, member_id=None))) == {
            "batchItemFailures": []
        }
        assert [i for i in all_items(TABLE) if i["entity"] == "member_stats"] == []

    def test_complaints_and_the_latest_csat(self) -> None:
        consume(
            contract_bus_event(ticket("T1")),
            contract_bus_event(ticket("T2", category="inquiry")),
            contract_bus_event(survey("V2", 2, SATURDAY)),
            contract_bus_event(survey("V1", 5, TUESDAY)),  # older answer arriving late
        )
        item = stats_item()
        assert (item["tickets_resolved"], item["complaint_count"]) == (2, 1)
        assert item["last_csat"] == 2


@pytest.mark.usefixtures("members")
def test_the_nightly_job_tags_a_family_from_parking_and_purchases() -> None:
    DynamoTagRuleRepository(TABLE).put(
        TagRule(
            tag_id="family",
            name="Family",
            rule=parse(
                {
                    "all": [
                        {"field": "parking_weekend_avg_minutes", "op": ">=", "value": 150},
                        {"field": "category_share.kids", "op": ">=", "value": 0.25},
                    ]
                }
            ),
        ),
        expected_version=None,
    )
    purchase = PurchaseRecorded(
        purchase_id="P1",
        external_id="POS-1",
        source_system="pos-main",
        member_id=MEMBER,
        store_id="store-0101",
        tenant_id=None,
        amount_cents=30_000,
        channel="pos",
        items=[
            PurchaseItem(sku="A", category="kids", quantity=1, amount_cents=10_000),
            PurchaseItem(sku="B", category="food", quantity=1, amount_cents=20_000),
        ],
        occurred_at=SATURDAY,
    )
    on_purchase_recorded.handler(sqs_event([contract_bus_event(purchase)]), FakeContext())
    consume(contract_bus_event(parking("S1", SATURDAY, 180)))

    summary = scoring.handler({}, FakeContext())

    assert summary["scored"] == 1
    score = stats_item()["score"]
    assert score["tags"] == ["family"]
    assert score["why"]["tags"] == {
        "family": "(parking_weekend_avg_minutes >= 150 and category_share.kids >= 0.25)"
    }
    (event,) = [i for i in all_items(TABLE) if i["entity"] == "outbox"]
    assert '"tags":["family"]' in event["detail"]


@pytest.mark.usefixtures("members")
def test_members_with_parking_only_are_not_scored() -> None:
    consume(contract_bus_event(parking("S1", SATURDAY, 180)))
    summary = scoring.handler({}, FakeContext())
    assert (summary["scored"], summary["not_scored"], summary["published"]) == (0, 1, 0)


@pytest.mark.usefixtures("members")
def test_events_for_an_erased_member_change_nothing() -> None:
    consume(contract_bus_event(parking("S1", SATURDAY, 180)))
    aws("dynamodb").update_item(  # what the privacy erasure does to the statistics item
        TableName=TABLE,
        Key={"pk": {"S": f"MEMBER#{MEMBER}"}, "sk": {"S": "STATS"}},
        UpdateExpression="SET member_erased = :t REMOVE gsi1pk, gsi1sk",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    before = stats_item()

    assert consume(contract_bus_event(parking("S2", SATURDAY, 60))) == {"batchItemFailures": []}
    on_purchase_recorded.handler(
        sqs_event(
            [
                contract_bus_event(
                    PurchaseRecorded.model_validate({**PurchaseRecorded.EXAMPLE, "member_id": MEMBER})
                )
            ]
        ),
        FakeContext(),
    )

    after = stats_item()
    assert after == before
    assert "gsi1pk" not in after
