"""Fixtures for the shared package's unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from shared import aws, clock
from tests.unit.shared.aws_fakes import BusWithQueue


class FakeClock:
    """A settable clock, like the local cloud's virtual clock."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    fake = FakeClock(datetime(2024, 5, 1, 4, 0, tzinfo=UTC))
    clock.set_clock(fake)
    yield fake
    clock.set_clock(None)


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """No cached clients before or after (clients are keyed by target/region/endpoint, so other
    tests can share them: creating one costs ~100 ms)."""
    aws.reset_clients()
    yield
    aws.reset_clients()


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment every MallCRM function carries."""
    values = {
        "STAGE": "test",
        "SERVICE_NAME": "loyalty",
        "EVENT_BUS_NAME": "mallcrm-test",
        "TABLE_NAME": "mallcrm-test-loyalty",
        "MALL_TIMEZONE": "Asia/Shanghai",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "loyalty",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def bus() -> Iterator[BusWithQueue]:
    """A moto bus (``mallcrm-test``) with a catch-all rule into a queue."""
    with mock_aws():
        yield BusWithQueue()
