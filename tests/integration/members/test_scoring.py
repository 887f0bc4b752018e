"""MembersScoringFunction in-process against moto: scores stored, MemberProfileScored only on a
change, safe re-runs; and the members stream publisher delivering the outbox to the bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.members.dal.profiles import DynamoScoringRepository
from services.members.handlers import on_purchase_recorded, scoring, stream_publisher
from services.members.logic.scoring import score
from shared import clock
from shared.events import MemberProfileScored, PurchaseItem, PurchaseRecorded, consume
from tests.integration.helpers import (
    FakeContext,
    all_items,
    bus_with_catch_all_queue,
    contract_bus_event,
    create_table,
    outbox_stream_event,
    received_events,
    sqs_event,
)

TABLE = "mallcrm-test-members"
WEEKLY = "01HX9ZK3M5N7P9Q1R3S5T7V9WA"
RARE = "01HX9ZK3M5N7P9Q1R3S5T7V9WB"
AS_OF = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)  # 02:00 on 1 July in Shanghai


@pytest.fixture
def members(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    create_table(TABLE, gsi1=True)
    monkeypatch.setenv("SERVICE_NAME", "members")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "members")
    monkeypatch.setenv("TABLE_NAME", TABLE)
    yield


def seed_purchases(member_id: str, days_ago: list[int]) -> None:
    bodies = []
    for n, ago in enumerate(days_ago):
        bodies.append(
            contract_bus_event(
                PurchaseRecorded(
                    purchase_id=f"P-{member_id}-{n}",
                    external_id=f"POS-{member_id}-{n}",
                    source_system="pos-main",
                    member_id=member_id,
                    store_id="store-0101",
                    tenant_id=None,
                    amount_cents=20_000,
                    channel="pos",
                    items=[PurchaseItem(sku="S", category="food", quantity=1, amount_cents=20_000)],
                    occurred_at=AS_OF - timedelta(days=ago),
                )
            )
        )
    for start in range(0, len(bodies), 10):
        assert on_purchase_recorded.handler(sqs_event(bodies[start : start + 10]), FakeContext()) == {
            "batchItemFailures": []
        }


def run_at(moment: datetime) -> dict[str, Any]:
    clock.set_clock(lambda: moment)
    summary: dict[str, Any] = scoring.handler({"job": "nightly-scoring"}, FakeContext())
    return summary


def outbox() -> list[tuple[MemberProfileScored, dict[str, Any]]]:
    events = []
    for item in all_items(TABLE):
        if item["entity"] == "outbox":
            assert item["detail_type"] == "MemberProfileScored"
            metadata, data = consume(MemberProfileScored, item["detail"])
            events.append((data, metadata.model_dump()))
    return sorted(events, key=lambda e: (e[1]["occurred_at"], e[0].member_id))


def stored_scores() -> dict[str, dict[str, Any]]:
    return {i["member_id"]: i["score"] for i in all_items(TABLE) if i["entity"] == "member_stats"}


@pytest.mark.usefixtures("members")
class TestNightlyScoring:
    def test_first_run_scores_everyone_and_publishes_each_first_score(self) -> None:
        seed_purchases(WEEKLY, [1, 8, 15, 22, 29])
        seed_purchases(RARE, [200])

        summary = run_at(AS_OF)

        bounds = summary.pop("bounds")
        assert summary == {
            "scored": 2,
            "published": 2,
            "skipped_concurrent": 0,
            "shards_done": 16,
            "complete": True,
            "not_scored": 0,
        }
        assert (bounds["source"], bounds["population"]) == ("fixed", 2)
        scores = stored_scores()
        assert (scores[WEEKLY]["churn_risk"], scores[WEEKLY]["recency_days"]) == ("low", 1)
        assert scores[WEEKLY]["frequency_90d"] == 5
        assert scores[WEEKLY]["monetary_90d_cents"] == 100_000
        assert (scores[RARE]["segment"], scores[RARE]["churn_risk"]) == ("general-retain", "high")
        assert (scores[RARE]["lifecycle"], scores[WEEKLY]["lifecycle"]) == ("dormant", "new")
        assert scores[WEEKLY]["why"]["bounds"]["source"] == "fixed"
        published = {data.member_id: data for data, _ in outbox()}
        assert published[WEEKLY].churn_risk == "low"
        assert published[WEEKLY].previous_churn_risk is None
        assert published[RARE].rfm_segment == "general-retain"
        assert published[RARE].lifecycle_stage == "dormant"
        assert published[RARE].changed == ["rfm_segment", "lifecycle_stage", "churn_risk", "tags"]

    def test_rerun_publishes_nothing_new(self) -> None:
        seed_purchases(WEEKLY, [1, 8, 15])
        run_at(AS_OF)

        summary = run_at(AS_OF + timedelta(hours=1))

        assert (summary["scored"], summary["published"]) == (1, 0)
        assert len(outbox()) == 1

    def test_only_a_change_of_risk_or_segment_is_published(self) -> None:
        seed_purchases(WEEKLY, [1, 8, 15, 22, 29])
        seed_purchases(RARE, [200])
        run_at(AS_OF)

        summary = run_at(AS_OF + timedelta(days=30))  # the weekly shopper has been away a month

        assert (summary["scored"], summary["published"]) == (2, 1)
        latest, _ = outbox()[-1]
        assert latest.member_id == WEEKLY
        assert (latest.previous_churn_risk, latest.churn_risk) == ("low", "high")
        assert "churn_risk" in latest.changed
        assert stored_scores()[RARE]["recency_days"] == 230, "unchanged members are re-scored quietly"

    def test_a_score_changed_by_someone_else_is_not_overwritten(self) -> None:
        seed_purchases(WEEKLY, [1])
        run_at(AS_OF)
        repo = DynamoScoringRepository(TABLE)
        ((stats, stored),) = [pair for shard in repo.shards() for pair in repo.statistics(shard)]
        assert stored is not None

        stale = repo.save_score(WEEKLY, score(stats, AS_OF, clock.zone("Asia/Shanghai")), None, None)

        assert stale is False
        assert len(outbox()) == 1

    def test_out_of_time_stops_before_a_shard_and_says_so(self) -> None:
        seed_purchases(WEEKLY, [1])
        clock.set_clock(lambda: AS_OF)
        summary = scoring.handler({}, FakeContext(remaining_ms=30_000))
        assert (summary["complete"], summary["scored"], summary["shards_done"]) == (False, 0, 0)


@pytest.mark.usefixtures("members")
def test_stream_publisher_puts_the_outbox_on_the_bus() -> None:
    queue = bus_with_catch_all_queue("mallcrm-test")
    seed_purchases(WEEKLY, [1])
    run_at(AS_OF)

    result = stream_publisher.handler(outbox_stream_event(TABLE), FakeContext())

    assert result == {"batchItemFailures": []}
    (delivered,) = received_events(queue)
    assert (delivered["source"], delivered["detail-type"]) == ("mallcrm.members", "MemberProfileScored")
    assert delivered["detail"]["data"]["member_id"] == WEEKLY
    assert json.dumps(delivered["detail"])  # the envelope survived the trip
