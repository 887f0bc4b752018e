"""LoyaltyTable, the integration-keys secret and a fixed clock for the loyalty handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from shared import clock
from shared import secrets as shared_secrets
from tests.integration.helpers import aws, create_table

TABLE = "mallcrm-test-loyalty"
KEY = b"pos-main-secret-key"
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def loyalty(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    create_table(TABLE, gsi1=True)  # gsi1: a member's purchases (erasure)
    secret = aws("secretsmanager").create_secret(
        Name="mallcrm/test/integration-keys",
        SecretString=json.dumps({"pos-main": KEY.decode(), "online-mall": "another-key"}),
    )
    pseudonym_secret = aws("secretsmanager").create_secret(
        Name="mallcrm/test/loyalty-pseudonym-key", SecretString="api-pseudonym-key-0123456789abcdef0123"
    )
    for name, value in {
        "SERVICE_NAME": "loyalty",
        "POWERTOOLS_SERVICE_NAME": "loyalty",
        "TABLE_NAME": TABLE,
        "INTEGRATION_KEYS_SECRET_ARN": secret["ARN"],
        "PSEUDONYM_KEY_SECRET_ARN": pseudonym_secret["ARN"],
    }.items():
        monkeypatch.setenv(name, value)
    shared_secrets.clear_cache()
    clock.set_clock(lambda: NOW)
    yield
    shared_secrets.clear_cache()
