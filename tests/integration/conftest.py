"""Every integration test runs inside moto (``mock_aws``) with a clean client cache and the
environment a deployed function would have."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from shared import aws, clock

BASE_ENV = {
    "STAGE": "test",
    "EVENT_BUS_NAME": "mallcrm-test",
    "MALL_TIMEZONE": "Asia/Shanghai",
    "LOG_LEVEL": "INFO",
}


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    aws.reset_clients()
    with mock_aws():
        yield
    aws.reset_clients()
    clock.set_clock(None)


def pytest_configure(config: pytest.Config) -> None:
    # Powertools warns when a handler that can emit metrics emitted none (an error response);
    # that is expected here and says nothing about the code under test.
    config.addinivalue_line("filterwarnings", "ignore:No application metrics to publish:UserWarning")
