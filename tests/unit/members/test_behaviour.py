"""Applying purchase events: retried on a version conflict, acknowledged on a duplicate."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.members.logic.behaviour import (
    MAX_ATTEMPTS,
    Applied,
    SaveOutcome,
    StatsContention,
    record_purchase,
)
from services.members.models.entities import BehaviourStats
from shared.events import PurchaseRecorded

SHANGHAI = ZoneInfo("Asia/Shanghai")
PURCHASE = PurchaseRecorded(
    purchase_id="P1",
    external_id="E1",
    source_system="pos",
    member_id="M1",
    store_id="s1",
    tenant_id=None,
    amount_cents=500,
    channel="pos",
    occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
)


class ScriptedRepo:
    def __init__(self, outcomes: list[SaveOutcome]) -> None:
        self.outcomes = outcomes
        self.saved: list[tuple[BehaviourStats, int]] = []
        self.reads = 0

    def get(self, member_id: str) -> BehaviourStats | None:
        self.reads += 1
        return BehaviourStats(member_id=member_id, purchase_count=self.reads, version=self.reads)

    def save(self, stats: BehaviourStats, *, expected_version: int, event_id: str) -> SaveOutcome:
        self.saved.append((stats, expected_version))
        return self.outcomes.pop(0)


def test_a_version_conflict_rereads_and_retries():
    repo = ScriptedRepo([SaveOutcome.VERSION_CONFLICT, SaveOutcome.SAVED])
    assert record_purchase("E", PURCHASE, repo, SHANGHAI) is Applied.APPLIED
    assert [expected for _, expected in repo.saved] == [1, 2]
    assert repo.saved[-1][0].purchase_count == 3, "applied to the fresh read"


def test_a_duplicate_is_acknowledged():
    assert (
        record_purchase("E", PURCHASE, ScriptedRepo([SaveOutcome.DUPLICATE]), SHANGHAI) is Applied.DUPLICATE
    )


def test_endless_contention_fails_the_record():
    repo = ScriptedRepo([SaveOutcome.VERSION_CONFLICT] * MAX_ATTEMPTS)
    with pytest.raises(StatsContention):
        record_purchase("E", PURCHASE, repo, SHANGHAI)
