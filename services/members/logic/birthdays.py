"""The daily birthday job (contract F): who has a birthday today (or this month). Pure.

The members table keeps a sparse index of the birthday's month and day only (``gsi2pk =
BDAY#<MMDD>`` on profiles that have a birthday; no year, the full date stays sealed in the vault).
At 09:00 mall time the job reads the partitions that are due and publishes one
``MemberBirthdayToday`` per member, at most once per member per year of ``birthday_on``:

* ``day`` mode — today's ``MMDD``; on Feb 28 of a common year also ``0229`` (those members
  celebrate on Feb 28: ``birthday_on`` is Feb 28);
* ``month`` mode — on the 1st, every ``MMDD`` of the month (and ``0229`` in a common February,
  with ``birthday_on`` Feb 28): ``birthday_on`` is each member's day in this month.

A run that meets its time limit records which partitions it finished (a checkpoint per run key);
the next day's run finishes an incomplete yesterday (day mode) or this month (month mode) before
anything else. The per-member yearly marker makes every repetition harmless.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, Protocol

BirthdayMode = Literal["day", "month"]
LEAP_DAY = "0229"


def mmdd(day: date) -> str:
    return f"{day.month:02d}{day.day:02d}"


def index_key(month_day: str) -> str:
    """The sparse index's partition for a month-day (``BDAY#0501``)."""
    return f"BDAY#{month_day}"


def birthday_in_year(month_day: str, year: int) -> date:
    """This year's birthday for a stored ``MMDD``: Feb 29 is Feb 28 in a common year."""
    month, day = int(month_day[:2]), int(month_day[2:])
    if (month, day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


@dataclass(frozen=True)
class Due:
    """One index partition to publish, and the ``birthday_on`` of its members."""

    month_day: str
    birthday_on: date


@dataclass(frozen=True)
class BirthdayRun:
    """A unit of work with its own checkpoint: one day (day mode) or one month (month mode)."""

    key: str  # "day#2026-11-23" / "month#2026-11"
    mode: BirthdayMode
    due: tuple[Due, ...]


def day_run(today: date) -> BirthdayRun:
    due = [Due(mmdd(today), today)]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        due.append(Due(LEAP_DAY, today))
    return BirthdayRun(f"day#{today.isoformat()}", "day", tuple(due))


def month_run(year: int, month: int) -> BirthdayRun:
    days = calendar.monthrange(year, month)[1]
    due = [Due(mmdd(date(year, month, d)), date(year, month, d)) for d in range(1, days + 1)]
    if month == 2 and not calendar.isleap(year):
        due.append(Due(LEAP_DAY, date(year, 2, 28)))
    return BirthdayRun(f"month#{year:04d}-{month:02d}", "month", tuple(due))


def runs_for(today: date, mode: BirthdayMode) -> tuple[list[BirthdayRun], list[BirthdayRun]]:
    """(runs due today whatever their checkpoint, runs to resume only if their checkpoint says
    they started and did not finish). Day mode: today; resume yesterday. Month mode: on the 1st
    this month; on other days resume this month."""
    if mode == "day":
        return [day_run(today)], [day_run(today - timedelta(days=1))]
    this_month = month_run(today.year, today.month)
    if today.day == 1:
        return [this_month], []
    return [], [this_month]


def marker_year(birthday_on: date) -> int:
    """Once per member per calendar year of the birthday."""
    return birthday_on.year


# --- the run -------------------------------------------------------------------------------------


class BirthdayRepository(Protocol):
    def checkpoint(self, run_key: str) -> Checkpoint | None: ...

    def save_checkpoint(self, run_key: str, checkpoint: Checkpoint) -> None: ...

    def members_born_on(self, month_day: str) -> Iterator[list[str]]:
        """Member ids in the index partition of ``month_day``, page by page."""
        ...

    def publish(self, due: Due, member_ids: Sequence[str], *, mode: BirthdayMode) -> tuple[int, int]:
        """One event per member not yet marked for the year (marker, profile check and outbox in one
        transaction per batch); (published, skipped: already marked, erased or birthday changed)."""
        ...


@dataclass(frozen=True)
class Checkpoint:
    """A run's finished index partitions, and whether all are done."""

    done: frozenset[str]
    complete: bool


@dataclass
class BirthdayOutcome:
    """What a run of the birthday job did."""

    published: int = 0
    skipped: int = 0
    runs_done: list[str] = field(default_factory=list)
    complete: bool = True


def run_birthdays(
    repo: BirthdayRepository,
    *,
    today: date,
    mode: BirthdayMode,
    batch_size: int,
    time_left: Callable[[], float],
    stop_seconds: float,
) -> BirthdayOutcome:
    """Publish the due birthdays (see the module doc); stops early when ``time_left()`` falls
    under ``stop_seconds`` and leaves a checkpoint for the next run."""
    outcome = BirthdayOutcome()
    due_now, to_resume = runs_for(today, mode)
    work: list[tuple[BirthdayRun, Checkpoint]] = []
    for run in to_resume:
        checkpoint = repo.checkpoint(run.key)
        if checkpoint is not None and not checkpoint.complete:
            work.append((run, checkpoint))
    for run in due_now:
        checkpoint = repo.checkpoint(run.key) or Checkpoint(frozenset(), complete=False)
        if not checkpoint.complete:
            work.append((run, checkpoint))
    for run, checkpoint in work:
        done = set(checkpoint.done)
        repo.save_checkpoint(run.key, Checkpoint(frozenset(done), complete=False))
        for due in run.due:
            if due.month_day in done:
                continue
            for page in repo.members_born_on(due.month_day):
                for start in range(0, len(page), batch_size):
                    if time_left() < stop_seconds:
                        outcome.complete = False
                        repo.save_checkpoint(run.key, Checkpoint(frozenset(done), complete=False))
                        return outcome
                    published, skipped = repo.publish(due, page[start : start + batch_size], mode=run.mode)
                    outcome.published += published
                    outcome.skipped += skipped
            done.add(due.month_day)
        repo.save_checkpoint(run.key, Checkpoint(frozenset(done), complete=True))
        outcome.runs_done.append(run.key)
    return outcome
