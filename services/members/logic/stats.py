"""Behaviour statistics: how a purchase, a refund, a parking session, a resolved ticket or a
survey answer changes what members knows about a member.

Pure: the caller reads the current statistics, applies the event here, and writes the result
back under a version condition (so two concurrent events cannot lose an update).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from services.members.models.entities import BehaviourStats, DayBucket

KEEP_DAYS = 400
"""Day buckets kept behind the newest one: the 365-day window plus slack for late events."""


def empty_stats(member_id: str) -> BehaviourStats:
    return BehaviourStats(member_id=member_id)


def _prune(days: dict[date, DayBucket], newest: date) -> dict[date, DayBucket]:
    horizon = newest - timedelta(days=KEEP_DAYS)
    return {day: bucket for day, bucket in days.items() if day > horizon}


def _add(mix: dict[str, int], key: str, amount: int) -> dict[str, int]:
    updated = dict(mix)
    updated[key] = updated.get(key, 0) + amount
    return updated


def apply_purchase(
    stats: BehaviourStats,
    *,
    occurred_at: datetime,
    amount_cents: int,
    store_id: str,
    item_categories: list[tuple[str, int]],
    tz: tzinfo,
) -> BehaviourStats:
    """``stats`` after one more purchase; events may arrive out of order (first/last are min/max).

    ``item_categories`` is ``[(category, amount_cents), ...]`` from the purchase's lines; the day
    bucket is the purchase's calendar day in the mall's zone ``tz``.
    """
    day = occurred_at.astimezone(tz).date()
    old = stats.days.get(day, DayBucket())
    days = dict(stats.days)
    days[day] = old.model_copy(update={"count": old.count + 1, "spend_cents": old.spend_cents + amount_cents})
    last = max(filter(None, [stats.last_purchase_at, occurred_at]))
    first = min(filter(None, [stats.first_purchase_at, occurred_at]))
    categories = stats.category_spend_cents
    for category, cents in item_categories:
        categories = _add(categories, category, cents)
    return stats.model_copy(
        update={
            "first_purchase_at": first,
            "last_purchase_at": last,
            "purchase_count": stats.purchase_count + 1,
            "spend_cents": stats.spend_cents + amount_cents,
            "days": _prune(days, max(days)),
            "category_spend_cents": categories,
            "store_purchase_count": _add(stats.store_purchase_count, store_id, 1),
        }
    )


def apply_refund(
    stats: BehaviourStats, *, occurred_at: datetime, amount_cents: int, tz: tzinfo
) -> BehaviourStats:
    """``stats`` after a refund: net spend goes down on the refund's day (so the windows see net
    spend); purchase counts and the category mix are kept (a refund does not undo a visit)."""
    day = occurred_at.astimezone(tz).date()
    old = stats.days.get(day, DayBucket())
    days = dict(stats.days)
    days[day] = old.model_copy(update={"spend_cents": old.spend_cents - amount_cents})
    return stats.model_copy(
        update={
            "spend_cents": stats.spend_cents - amount_cents,
            "refund_count": stats.refund_count + 1,
            "refunded_cents": stats.refunded_cents + amount_cents,
            "days": _prune(days, max(days)),
        }
    )


WEEKEND = (5, 6)
"""Saturday and Sunday (``date.weekday()``), in the mall's zone."""


def parking_minutes(entered_at: datetime, exited_at: datetime) -> int:
    """Whole minutes parked (never negative: a clock skew at the barrier is not a refund of time)."""
    return max(int((exited_at - entered_at).total_seconds() // 60), 0)


def apply_parking(
    stats: BehaviourStats, *, entered_at: datetime, exited_at: datetime, tz: tzinfo
) -> BehaviourStats:
    """``stats`` after one settled parking session: a visit on the day the car came in (mall's
    zone), its duration, and whether that day was a weekend."""
    local_entry = entered_at.astimezone(tz)
    day = local_entry.date()
    minutes = parking_minutes(entered_at, exited_at)
    weekend = local_entry.weekday() in WEEKEND
    old = stats.days.get(day, DayBucket())
    days = dict(stats.days)
    days[day] = old.model_copy(
        update={"parking_count": old.parking_count + 1, "parking_minutes": old.parking_minutes + minutes}
    )
    last = max(filter(None, [stats.last_parking_at, exited_at]))
    return stats.model_copy(
        update={
            "parking_sessions": stats.parking_sessions + 1,
            "parking_minutes": stats.parking_minutes + minutes,
            "parking_weekend_sessions": stats.parking_weekend_sessions + weekend,
            "parking_weekend_minutes": stats.parking_weekend_minutes + (minutes if weekend else 0),
            "last_parking_at": last,
            "days": _prune(days, max(days)),
        }
    )


def apply_ticket_resolved(
    stats: BehaviourStats, *, category: str, resolved_at: datetime, opened_at: datetime
) -> BehaviourStats:
    """``stats`` after a resolved ticket: complaints are counted (and when the last one was made)."""
    complaint = category == "complaint"
    last = stats.last_complaint_at
    if complaint:
        last = max(filter(None, [stats.last_complaint_at, opened_at]))
    return stats.model_copy(
        update={
            "tickets_resolved": stats.tickets_resolved + 1,
            "complaint_count": stats.complaint_count + complaint,
            "last_complaint_at": last,
        }
    )


def apply_survey(stats: BehaviourStats, *, csat: int, answered_at: datetime) -> BehaviourStats:
    """``stats`` after a survey answer: the latest answer wins (an older one arriving late is kept
    out)."""
    if stats.last_csat_at is not None and answered_at < stats.last_csat_at:
        return stats
    return stats.model_copy(update={"last_csat": csat, "last_csat_at": answered_at})
