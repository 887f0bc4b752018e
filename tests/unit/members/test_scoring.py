"""Scoring rules (pure): windows, RFM segment, churn risk against the member's own cadence, value
level, and when MemberProfileScored is published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.members.logic.scoring import (
    DEFAULT_RULES,
    cadence_days,
    churn_risk,
    score,
    should_publish,
)
from services.members.logic.stats import apply_purchase, empty_stats

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)  # 02:00 on 1 July in Shanghai


def history(*days_ago_and_cents: tuple[int, int]):
    stats = empty_stats("M1")
    for days_ago, cents in days_ago_and_cents:
        stats = apply_purchase(
            stats,
            occurred_at=AS_OF - timedelta(days=days_ago),
            amount_cents=cents,
            store_id="s1",
            item_categories=[("food", cents)],
            tz=SHANGHAI,
        )
    return stats


class TestWindows:
    def test_recency_frequency_and_monetary(self):
        result = score(history((3, 10_000), (40, 20_000), (100, 50_000), (400, 99_999)), AS_OF, SHANGHAI)
        assert result.recency_days == 3
        assert (result.frequency_30d, result.frequency_90d, result.frequency_365d) == (1, 2, 3)
        assert result.monetary_90d_cents == 30_000
        assert result.monetary_365d_cents == 80_000

    def test_the_90_day_window_includes_today_and_89_days_back(self):
        result = score(history((89, 100), (90, 200)), AS_OF, SHANGHAI)
        assert (result.frequency_90d, result.monetary_90d_cents) == (1, 100)


class TestCadenceAndChurnRisk:
    def test_cadence_is_the_mean_gap_clamped(self):
        assert cadence_days(history((0, 1), (10, 1), (20, 1))) == 10
        assert cadence_days(history((0, 1), (1, 1))) == DEFAULT_RULES.min_cadence_days
        assert cadence_days(history((0, 1), (600, 1))) == DEFAULT_RULES.max_cadence_days
        assert cadence_days(history((5, 1))) == DEFAULT_RULES.default_cadence_days

    @pytest.mark.parametrize(
        ("recency", "cadence", "expected"),
        [
            (0, 10, "low"),
            (15, 10, "low"),  # 1.5 cadences
            (16, 10, "medium"),
            (30, 10, "medium"),  # 3 cadences
            (31, 10, "high"),
            (100, 60, "medium"),  # a monthly-ish shopper away 100 days is not yet high
            (366, 180, "high"),  # a year away is high whatever the rhythm
            (None, 30, "high"),
        ],
    )
    def test_risk_is_measured_in_the_members_own_cadences(self, recency, cadence, expected):
        assert churn_risk(recency, cadence) == expected

    def test_weekly_shopper_away_a_month_is_high_risk(self):
        weekly = history(*[(30 + 7 * i, 5_000) for i in range(10)])
        result = score(weekly, AS_OF, SHANGHAI)
        assert result.cadence_days == 7
        assert result.churn_risk == "high"


class TestSegmentsAndValue:
    def test_champion(self):
        frequent_big = history(*[(2 + 14 * i, 100_000) for i in range(26)])
        result = score(frequent_big, AS_OF, SHANGHAI)
        assert (result.r_score, result.f_score, result.m_score) == (5, 5, 5)
        assert result.segment == "champions"
        assert result.value_level == "high"

    def test_new_member(self):
        result = score(history((10, 3_000)), AS_OF, SHANGHAI)
        assert result.segment == "new"
        assert result.value_level == "low"

    def test_promising_after_the_first_month(self):
        result = score(history((5, 3_000), (45, 3_000)), AS_OF, SHANGHAI)
        assert result.segment == "promising"

    def test_need_attention(self):
        result = score(history((60, 3_000), (200, 3_000)), AS_OF, SHANGHAI)
        assert result.segment == "need_attention"

    def test_at_risk_valuable_member_gone_quiet(self):
        result = score(history(*[(120 + 20 * i, 120_000) for i in range(8)]), AS_OF, SHANGHAI)
        assert (result.r_score, result.f_score) == (2, 3)
        assert result.segment == "at_risk"
        assert result.value_level == "high"

    def test_hibernating(self):
        result = score(history((200, 1_000)), AS_OF, SHANGHAI)
        assert result.segment == "hibernating"

    def test_lost_after_a_year(self):
        result = score(history((400, 1_000)), AS_OF, SHANGHAI)
        assert (result.segment, result.churn_risk) == ("lost", "high")


class TestPublication:
    def test_first_score_is_published(self):
        assert should_publish(None, score(history((3, 1)), AS_OF, SHANGHAI))

    def test_unchanged_segment_and_risk_are_not_published(self):
        stats = history((3, 1_000), (40, 1_000))
        first = score(stats, AS_OF, SHANGHAI)
        next_night = score(stats, AS_OF + timedelta(days=1), SHANGHAI)
        assert next_night.recency_days != first.recency_days
        assert not should_publish(first, next_night)

    def test_a_change_of_risk_or_segment_is_published(self):
        stats = history((3, 1_000), (13, 1_000))
        first = score(stats, AS_OF, SHANGHAI)
        later = score(stats, AS_OF + timedelta(days=60), SHANGHAI)
        assert (first.churn_risk, later.churn_risk) == ("low", "high")
        assert should_publish(first, later)

    def test_scoring_is_deterministic(self):
        stats = history((3, 1_000), (40, 5_000))
        assert score(stats, AS_OF, SHANGHAI) == score(stats, AS_OF, SHANGHAI)
