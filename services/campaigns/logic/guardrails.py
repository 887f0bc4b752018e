"""Send-time guardrails, pure: consent, quiet hours, frequency-cap slots with priority, periods.

**How a higher priority "wins the slot" when messages arrive at different times.** A marketing
message does not go out the moment it passes the checks: it first *holds* a slot in the member's
per-channel day and week counters for a short decision window (``decision_window_seconds``,
rounded up to the next whole minute), then goes out if it still holds it. While the cap is full,
a message with a higher priority takes the slot of the lowest-priority message that is still only
holding (ties: the one that arrived last); the loser is deferred, never dropped. A slot whose
message was sent is never taken back (a sent SMS cannot be unsent), so priority decides among
messages that arrive within a window of each other — launches of competing campaigns, a journey
and a campaign on the same morning — and first come, first served beyond that. A message that
finds no slot is deferred to the start of the next period (local day, or ISO week) and checked
again there like a new arrival.

The window ends by the clock: a holder carries ``until`` (its window's end less
:data:`CLOCK_MARGIN`) and is not taken from then on, whether or not its second pass has run yet,
so that pass need not write the counters again to keep its slot. The store keeps it exact against
late commits (an eviction decided in the window and committed after the victim's lease fails on
the victim's record; see ``dal/dispatch.py``). Holders written before ``until`` existed are taken
while ``held``, as before.

Periods are the mall's local day and ISO week (``MALL_TIMEZONE``): members carry no time zone of
their own yet.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Literal

from services.campaigns.models.dispatch import Channel, SendRequest

HolderState = Literal["held", "sent"]

# How much earlier than its window's end a holder stops being taken: the second pass (one
# function's clock) sends once the window is over, an arrival (another function's clock) must
# already see it closed. Lambda clocks are synchronised far closer than this.
CLOCK_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Holder:
    send_id: str
    priority: int
    state: HolderState
    at: str  # ISO UTC of the hold: the later of two equal priorities loses first
    # ISO UTC (``clock.to_utc_iso``, fixed width) from which the slot is no longer taken; None for
    # holders written before it existed (taken while ``held``).
    until: str | None = None

    def takeable(self, now: str | None) -> bool:
        """Still in its decision window at ``now`` (ISO UTC; None: ignore the clock)."""
        return self.state == "held" and (self.until is None or now is None or now < self.until)


@dataclass(frozen=True)
class Limits:
    per_day: int
    per_week: int


@dataclass(frozen=True)
class HoldPlan:
    """``ok``: take (or keep) the slot, evicting ``victim`` if set. Not ok: ``reason`` says which cap."""

    ok: bool
    victim: str | None = None
    reason: str | None = None


def plan_hold(
    day: dict[str, Holder],
    week: dict[str, Holder],
    limits: Limits,
    send_id: str,
    priority: int,
    *,
    now: str | None = None,
) -> HoldPlan:
    """Decide whether ``send_id`` may hold a slot in the day and week counters (see module doc);
    ``now`` (ISO UTC) closes the windows of holders whose ``until`` has passed."""
    if send_id in day and send_id in week:
        return HoldPlan(ok=True)
    day_full = len(day) >= limits.per_day
    week_full = len(week) >= limits.per_week
    if not day_full and not week_full:
        return HoldPlan(ok=True)
    # A victim must free both counters at once: only a holder of this very day (it is in the
    # week too). Holds last a minute or two, so a holder from another day has been sent by now.
    candidates = [h for h in day.values() if h.takeable(now) and h.priority < priority and h.send_id in week]
    if not candidates:
        return HoldPlan(ok=False, reason="frequency_cap_day" if day_full else "frequency_cap_week")
    victim = min(candidates, key=lambda h: (h.priority, _reverse(h.at)))
    return HoldPlan(ok=True, victim=victim.send_id)


def _reverse(text: str) -> tuple[int, ...]:
    """Sort key that orders ISO strings from latest to earliest."""
    return tuple(-ord(c) for c in text)


def day_key(now: datetime, zone: tzinfo) -> str:
    return now.astimezone(zone).date().isoformat()


def week_key(now: datetime, zone: tzinfo) -> str:
    year, week, _ = now.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def next_day_start(now: datetime, zone: tzinfo) -> datetime:
    local = now.astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone).astimezone(now.tzinfo)


def next_week_start(now: datetime, zone: tzinfo) -> datetime:
    local = now.astimezone(zone)
    monday = local.date() + timedelta(days=7 - local.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone).astimezone(now.tzinfo)


@dataclass(frozen=True)
class QuietHours:
    start_hour: int  # local hour quiet hours begin (e.g. 21)
    end_hour: int  # local hour they end (e.g. 9)

    def end_if_quiet(self, now: datetime, zone: tzinfo) -> datetime | None:
        """When the quiet period containing ``now`` ends (UTC), or None when ``now`` is not quiet."""
        if self.start_hour == self.end_hour:
            return None
        local = now.astimezone(zone)
        hour = local.hour
        if self.start_hour > self.end_hour:  # spans midnight, e.g. 21 → 9
            if hour >= self.start_hour:
                end_date = local.date() + timedelta(days=1)
            elif hour < self.end_hour:
                end_date = local.date()
            else:
                return None
        else:  # within one day, e.g. 12 → 14
            if not self.start_hour <= hour < self.end_hour:
                return None
            end_date = local.date()
        return datetime.combine(end_date, time(self.end_hour), tzinfo=zone).astimezone(now.tzinfo)


def not_quiet(at: datetime, quiet: QuietHours, zone: tzinfo) -> datetime:
    """``at``, or the end of the quiet period it falls in."""
    return quiet.end_if_quiet(at, zone) or at


def ceil_minute(at: datetime) -> datetime:
    """The next whole minute at or after ``at`` (the due index's bucket)."""
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)


# --- consent ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consents:
    """The member's consents from campaigns' projection: ``marketing`` channels granted, and
    whether ``personalisation`` was explicitly withdrawn (absent ≠ withdrawn for this one: it only
    gates segment-targeted campaigns, after PIPL Art. 24's one-click refusal)."""

    marketing_channels: frozenset[str]
    personalisation_withdrawn: bool = False
    # False when campaigns holds no consent item for the member at all: the projection may not have
    # arrived yet (a MemberRegistered-triggered welcome races the MemberConsentChanged events, which
    # travel on another queue), so dispatch waits a little before reading it as "no consent".
    known: bool = True


@dataclass(frozen=True)
class ChannelChoice:
    channel: Channel | None
    reason: str | None  # why none is allowed


def choose_channel(request: SendRequest, consents: Consents, skip: Collection[str] = ()) -> ChannelChoice:
    """The first channel in the request's preference order the member allows for this kind,
    leaving out ``skip`` (channels already tried that members holds no address for)."""
    if request.kind == "marketing":
        if request.send_id.startswith("cmp#") and consents.personalisation_withdrawn:
            return ChannelChoice(None, "personalisation_withdrawn")
        for channel in request.channels:
            if channel in consents.marketing_channels and channel not in skip:
                return ChannelChoice(channel, None)
        return ChannelChoice(None, "no_consent")
    for channel in request.channels:
        if channel in skip:
            continue
        # Transactional: the inbox is the member's own app; other channels need the member's consent
        # to be contacted there (the only per-channel contact consent members records).
        if channel == "inbox" or channel in consents.marketing_channels:
            return ChannelChoice(channel, None)
    return ChannelChoice(None, "no_consent")
