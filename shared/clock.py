"""One clock for the whole code base.

Every "now" in MallCRM comes from :func:`now` so that the local cloud can install a virtual clock
(:func:`set_clock`) and move days forward in milliseconds: TTLs, SLA timers, points expiry and
journey waits then all see the same time. Times are aware and in UTC everywhere inside the system;
the mall's zone (default Asia/Shanghai) is only used at the edges (:func:`mall_now`).

``datetime.utcnow`` is never used: it returns naive datetimes that silently compare wrong.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "epoch_seconds",
    "mall_now",
    "now",
    "parse_iso",
    "set_clock",
    "to_utc_iso",
    "zone",
]

ClockFn = Callable[[], datetime]

_lock = threading.Lock()
_clock: ClockFn | None = None

# Zones without DST since well before any data we hold, usable as fixed offsets if the runtime has
# no tz database (the python3.12 Lambda image ships one, but a missing file must not stop a mall).
_FIXED_OFFSET_FALLBACK: dict[str, timedelta] = {
    "Asia/Shanghai": timedelta(hours=8),
    "Asia/Hong_Kong": timedelta(hours=8),
    "Asia/Macau": timedelta(hours=8),
    "Asia/Taipei": timedelta(hours=8),
    "Asia/Singapore": timedelta(hours=8),
    "UTC": timedelta(0),
}


def set_clock(fn: ClockFn | None) -> None:
    """Install a clock function (the local cloud's virtual clock), or ``None`` for the real one.

    The function must return aware datetimes; naive ones are rejected by :func:`now`.
    """
    global _clock  # noqa: PLW0603 - the process-wide clock is the point of this module
    with _lock:
        _clock = fn


def now() -> datetime:
    """The current time, aware, in UTC, from the installed clock."""
    fn = _clock
    if fn is None:
        return datetime.now(UTC)
    value = fn()
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the installed clock returned a naive datetime; clocks must be timezone-aware")
    return value.astimezone(UTC)


@lru_cache(maxsize=32)
def zone(tz_name: str) -> tzinfo:
    """The tzinfo for an IANA zone name, cached; raises ``ValueError`` for an unknown zone."""
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        offset = _FIXED_OFFSET_FALLBACK.get(tz_name)
        if offset is None:
            raise ValueError(f"unknown time zone {tz_name!r}") from exc
        return timezone(offset, tz_name)


def mall_now(tz_name: str) -> datetime:
    """The current time in the mall's zone (for 09:00 jobs, birthdays, quiet hours, receipts)."""
    return now().astimezone(zone(tz_name))


def _require_aware(dt: datetime) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: MallCRM only handles timezone-aware datetimes")


# to_utc_iso's texts of datetimes whose tzinfo is ``datetime.UTC`` (the clock's): a batch formats the
# same few instants many times (dispatch: ~17 a message, most of them the batch's ``now`` and
# window ends). Only that tzinfo is a key, so equal keys are the same instant — an aware datetime of
# another zone compares equal across a DST fold while its offset differs. Bounded by clearing.
_UTC_TEXTS: dict[datetime, str] = {}
_UTC_TEXTS_MAX = 4096


def to_utc_iso(dt: datetime) -> str:
    """``2024-05-01T04:00:00.000000Z``: UTC, ``Z`` suffix, always microseconds.

    Fixed width on purpose: these strings are used in DynamoDB sort keys, where lexical order must
    be time order, and the round trip through :func:`parse_iso` must be lossless.
    """
    if dt.tzinfo is UTC:
        text = _UTC_TEXTS.get(dt)
        if text is None:
            if len(_UTC_TEXTS) >= _UTC_TEXTS_MAX:
                _UTC_TEXTS.clear()
            text = _UTC_TEXTS[dt] = dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        return text
    offset = dt.utcoffset() if dt.tzinfo is not None else None
    if offset is None:
        raise ValueError("naive datetime: MallCRM only handles timezone-aware datetimes")
    # isoformat rather than strftime: ~4x cheaper, and zero-pads years below 1000 like the rest.
    # At a zero offset (UTC, whatever its tzinfo object: pydantic parses "Z" into its own) the
    # wall time is UTC already: no conversion (dispatch formats ~17 instants per message).
    if not offset:
        return dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_iso(value: str) -> datetime:
    """Parse ISO-8601 with a ``Z`` or an offset into an aware UTC datetime; naive input is refused."""
    parsed = datetime.fromisoformat(value.strip())
    _require_aware(parsed)
    return parsed.astimezone(UTC)


def epoch_seconds(dt: datetime) -> int:
    """Whole seconds since the epoch, as DynamoDB TTL attributes want them."""
    _require_aware(dt)
    return int(dt.timestamp())
