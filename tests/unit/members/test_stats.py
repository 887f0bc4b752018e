"""Behaviour statistics: how purchases and refunds change them (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.members.logic.stats import (
    KEEP_DAYS,
    apply_parking,
    apply_purchase,
    apply_refund,
    apply_survey,
    apply_ticket_resolved,
    empty_stats,
)
from services.members.models.entities import DayBucket

SHANGHAI = ZoneInfo("Asia/Shanghai")


def buy(stats, at, cents=1000, store="s1", categories=(("food", 1000),)):
    return apply_purchase(
        stats,
        occurred_at=at,
        amount_cents=cents,
        store_id=store,
        item_categories=list(categories),
        tz=SHANGHAI,
    )


def test_first_purchase_starts_the_statistics():
    at = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    stats = buy(empty_stats("M1"), at, 2590, "store-1", [("apparel", 1990), ("food", 600)])

    assert stats.first_purchase_at == stats.last_purchase_at == at
    assert (stats.purchase_count, stats.spend_cents) == (1, 2590)
    assert stats.days == {date(2026, 3, 1): DayBucket(count=1, spend_cents=2590)}
    assert stats.category_spend_cents == {"apparel": 1990, "food": 600}
    assert stats.store_purchase_count == {"store-1": 1}


def test_day_buckets_are_the_malls_calendar_days():
    late_evening_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 on 2 March in Shanghai
    stats = buy(empty_stats("M1"), late_evening_utc)
    assert list(stats.days) == [date(2026, 3, 2)]


def test_out_of_order_purchases_keep_first_and_last_right():
    later = datetime(2026, 3, 10, tzinfo=UTC)
    earlier = datetime(2026, 3, 1, tzinfo=UTC)
    stats = buy(buy(empty_stats("M1"), later), earlier)
    assert (stats.first_purchase_at, stats.last_purchase_at) == (earlier, later)
    assert stats.purchase_count == 2


def test_same_day_purchases_share_a_bucket_and_mixes_add_up():
    at = datetime(2026, 3, 1, 3, tzinfo=UTC)
    stats = buy(buy(empty_stats("M1"), at, 1000, "s1"), at + timedelta(hours=1), 500, "s2", [("food", 500)])
    assert stats.days[date(2026, 3, 1)] == DayBucket(count=2, spend_cents=1500)
    assert stats.category_spend_cents == {"food": 1500}
    assert stats.store_purchase_count == {"s1": 1, "s2": 1}


def test_buckets_older_than_the_horizon_are_dropped():
    old = datetime(2025, 1, 1, tzinfo=UTC)
    new = old + timedelta(days=KEEP_DAYS + 1)
    stats = buy(buy(empty_stats("M1"), old), new)
    assert list(stats.days) == [new.astimezone(SHANGHAI).date()]
    assert stats.purchase_count == 2, "lifetime totals keep everything"


def test_refund_lowers_net_spend_on_its_day_but_keeps_the_visit():
    at = datetime(2026, 3, 1, 3, tzinfo=UTC)
    stats = apply_refund(
        buy(empty_stats("M1"), at, 5000), occurred_at=at + timedelta(days=2), amount_cents=2000, tz=SHANGHAI
    )
    assert (stats.spend_cents, stats.purchase_count) == (3000, 1)
    assert (stats.refund_count, stats.refunded_cents) == (1, 2000)
    assert stats.days[date(2026, 3, 3)] == DayBucket(count=0, spend_cents=-2000)


class TestParkingTicketsSurveys:
    SATURDAY = datetime(2026, 6, 27, 2, 0, tzinfo=UTC)  # 10:00 Saturday in Shanghai
    FRIDAY_NIGHT_UTC = datetime(2026, 6, 26, 17, 0, tzinfo=UTC)  # 01:00 Saturday in Shanghai

    def test_a_session_is_a_visit_with_its_duration(self):
        stats = apply_parking(
            empty_stats("M1"),
            entered_at=self.SATURDAY,
            exited_at=self.SATURDAY + timedelta(minutes=190),
            tz=SHANGHAI,
        )
        assert (stats.parking_sessions, stats.parking_minutes) == (1, 190)
        assert (stats.parking_weekend_sessions, stats.parking_weekend_minutes) == (1, 190)
        assert stats.days[date(2026, 6, 27)] == DayBucket(parking_count=1, parking_minutes=190)
        assert stats.last_purchase_at is None

    def test_the_weekend_is_the_malls_weekend(self):
        stats = apply_parking(
            empty_stats("M1"),
            entered_at=self.FRIDAY_NIGHT_UTC,
            exited_at=self.FRIDAY_NIGHT_UTC + timedelta(hours=1),
            tz=SHANGHAI,
        )
        assert stats.parking_weekend_sessions == 1

    def test_a_skewed_barrier_clock_is_zero_minutes(self):
        stats = apply_parking(
            empty_stats("M1"),
            entered_at=self.SATURDAY,
            exited_at=self.SATURDAY - timedelta(minutes=3),
            tz=SHANGHAI,
        )
        assert stats.parking_minutes == 0

    def test_parking_and_purchases_share_the_day_bucket(self):
        stats = apply_parking(
            empty_stats("M1"),
            entered_at=self.SATURDAY,
            exited_at=self.SATURDAY + timedelta(minutes=30),
            tz=SHANGHAI,
        )
        stats = apply_purchase(
            stats, occurred_at=self.SATURDAY, amount_cents=500, store_id="s", item_categories=[], tz=SHANGHAI
        )
        assert stats.days[date(2026, 6, 27)] == DayBucket(
            count=1, spend_cents=500, parking_count=1, parking_minutes=30
        )

    def test_complaints_are_counted(self):
        stats = apply_ticket_resolved(
            empty_stats("M1"), category="inquiry", opened_at=self.SATURDAY, resolved_at=self.SATURDAY
        )
        stats = apply_ticket_resolved(
            stats, category="complaint", opened_at=self.SATURDAY, resolved_at=self.SATURDAY
        )
        assert (stats.tickets_resolved, stats.complaint_count, stats.last_complaint_at) == (
            2,
            1,
            self.SATURDAY,
        )

    def test_the_latest_survey_wins(self):
        stats = apply_survey(empty_stats("M1"), csat=2, answered_at=self.SATURDAY)
        stats = apply_survey(stats, csat=5, answered_at=self.SATURDAY - timedelta(days=1))
        assert stats.last_csat == 2
        stats = apply_survey(stats, csat=4, answered_at=self.SATURDAY + timedelta(days=1))
        assert stats.last_csat == 4
