"""The birthday job's plan (contract F), pure: which index partitions are due, Feb 29 in common
years, month mode, and a run that stops on time and resumes from its checkpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import date

from services.members.logic.birthdays import (
    BirthdayMode,
    BirthdayOutcome,
    Checkpoint,
    Due,
    birthday_in_year,
    day_run,
    month_run,
    run_birthdays,
    runs_for,
)


def test_day_mode_is_today_only():
    run = day_run(date(2026, 11, 23))
    assert run.key == "day#2026-11-23"
    assert run.due == (Due("1123", date(2026, 11, 23)),)


def test_feb_29_births_celebrate_on_feb_28_in_a_common_year():
    assert day_run(date(2026, 2, 28)).due == (Due("0228", date(2026, 2, 28)), Due("0229", date(2026, 2, 28)))
    assert birthday_in_year("0229", 2026) == date(2026, 2, 28)


def test_in_a_leap_year_feb_29_is_its_own_day():
    assert day_run(date(2028, 2, 28)).due == (Due("0228", date(2028, 2, 28)),)
    assert day_run(date(2028, 2, 29)).due == (Due("0229", date(2028, 2, 29)),)
    assert birthday_in_year("0229", 2028) == date(2028, 2, 29)


def test_month_mode_covers_every_day_of_the_month_with_each_members_own_date():
    run = month_run(2026, 11)
    assert run.key == "month#2026-11"
    assert len(run.due) == 30
    assert run.due[0] == Due("1101", date(2026, 11, 1))
    assert run.due[-1] == Due("1130", date(2026, 11, 30))
    feb = month_run(2026, 2)
    assert feb.due[-1] == Due("0229", date(2026, 2, 28))
    assert len(month_run(2028, 2).due) == 29


def test_month_mode_starts_on_the_first_and_only_resumes_afterwards():
    due, resume = runs_for(date(2026, 11, 1), "month")
    assert [r.key for r in due] == ["month#2026-11"] and resume == []
    due, resume = runs_for(date(2026, 11, 2), "month")
    assert due == [] and [r.key for r in resume] == ["month#2026-11"]
    due, resume = runs_for(date(2026, 11, 2), "day")
    assert [r.key for r in due] == ["day#2026-11-02"] and [r.key for r in resume] == ["day#2026-11-01"]


class FakeRepo:
    def __init__(self, index: dict[str, list[str]], page: int = 2) -> None:
        self.index = index
        self.page = page
        self.checkpoints: dict[str, Checkpoint] = {}
        self.sent: dict[tuple[str, int], tuple[date, str]] = {}

    def checkpoint(self, run_key: str) -> Checkpoint | None:
        return self.checkpoints.get(run_key)

    def save_checkpoint(self, run_key: str, checkpoint: Checkpoint) -> None:
        self.checkpoints[run_key] = checkpoint

    def members_born_on(self, month_day: str) -> Iterator[list[str]]:
        ids = self.index.get(month_day, [])
        for start in range(0, len(ids), self.page):
            yield ids[start : start + self.page]

    def publish(self, due: Due, member_ids: Sequence[str], *, mode: BirthdayMode) -> tuple[int, int]:
        published = 0
        for member in member_ids:
            key = (member, due.birthday_on.year)
            if key not in self.sent:
                self.sent[key] = (due.birthday_on, mode)
                published += 1
        return published, len(member_ids) - published


def _run(
    repo: FakeRepo, today: date, mode: BirthdayMode = "day", time_left: Callable[[], float] = lambda: 900.0
) -> BirthdayOutcome:
    return run_birthdays(repo, today=today, mode=mode, batch_size=2, time_left=time_left, stop_seconds=30)


def test_a_run_publishes_each_member_once_and_a_rerun_publishes_nothing():
    repo = FakeRepo({"1123": ["a", "b", "c"], "1124": ["d"]})
    outcome = _run(repo, date(2026, 11, 23))
    assert (outcome.published, outcome.complete) == (3, True)
    assert repo.sent[("a", 2026)] == (date(2026, 11, 23), "day")
    assert ("d", 2026) not in repo.sent
    assert repo.checkpoints["day#2026-11-23"] == Checkpoint(frozenset({"1123"}), complete=True)
    again = _run(repo, date(2026, 11, 23))
    assert (again.published, again.skipped) == (0, 0)  # the checkpoint says done: not even read


def test_a_run_out_of_time_stops_and_the_next_day_finishes_yesterday_first():
    repo = FakeRepo({"1123": ["a", "b", "c", "d", "e"], "1124": ["f"]}, page=5)
    budget = iter([900.0, 10.0])
    outcome = _run(repo, date(2026, 11, 23), time_left=lambda: next(budget))
    assert outcome.complete is False
    assert outcome.published == 2
    assert repo.checkpoints["day#2026-11-23"].complete is False
    nextday = _run(repo, date(2026, 11, 24))
    assert nextday.runs_done == ["day#2026-11-23", "day#2026-11-24"]
    assert sorted(m for m, _ in repo.sent) == ["a", "b", "c", "d", "e", "f"]
    assert nextday.skipped == 2  # a and b were marked already


def test_month_mode_on_the_first_publishes_the_whole_month_with_each_birthday():
    repo = FakeRepo({"1101": ["a"], "1117": ["b"], "1130": ["c"], "1201": ["z"]})
    outcome = _run(repo, date(2026, 11, 1), mode="month")
    assert outcome.published == 3
    assert repo.sent[("b", 2026)] == (date(2026, 11, 17), "month")
    assert _run(repo, date(2026, 11, 2), mode="month").published == 0


def test_month_mode_in_a_common_february_includes_leap_day_births_on_the_28th():
    repo = FakeRepo({"0229": ["leap"]})
    _run(repo, date(2027, 2, 1), mode="month")
    assert repo.sent[("leap", 2027)] == (date(2027, 2, 28), "month")
