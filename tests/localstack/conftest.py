"""The LocalStack tier: opt-in (`make test-localstack`), skipped when LocalStack is not running.

Clients here talk to LocalStack explicitly (endpoint_url), whatever the suite-wide settings in
tests/conftest.py say; the stack must have been deployed with `make deploy-localstack`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest

ENDPOINT = os.environ.get("LOCALSTACK_ENDPOINT", "http://localhost:4566")
STACK = os.environ.get("LOCALSTACK_STACK", "mallcrm-dev")
REGION = "us-east-1"


def _answering(endpoint: str, timeout: float = 1.0) -> bool:
    parsed = urlparse(endpoint)
    try:
        with socket.create_connection((parsed.hostname or "localhost", parsed.port or 4566), timeout=timeout):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def localstack() -> Callable[[str], Any]:
    """A client factory for LocalStack; skips the test when LocalStack is not there."""
    host = urlparse(ENDPOINT).netloc or ENDPOINT
    if not _answering(ENDPOINT):
        pytest.skip(f"LocalStack is not answering on {host}")

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=ENDPOINT,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    return client


@pytest.fixture(scope="session")
def stack(localstack: Callable[[str], Any]) -> dict[str, Any]:
    """The deployed stack's outputs and resources (logical id -> physical id)."""
    cloudformation = localstack("cloudformation")
    try:
        described = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    except cloudformation.exceptions.ClientError:
        pytest.skip(f"stack {STACK} is not deployed on LocalStack: run `make deploy-localstack`")
    if not described["StackStatus"].endswith("_COMPLETE") or "ROLLBACK" in described["StackStatus"]:
        pytest.fail(f"stack {STACK} is {described['StackStatus']}")
    resources = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return {"resources": resources, "outputs": outputs}
