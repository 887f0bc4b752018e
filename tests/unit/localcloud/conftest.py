"""Fixtures for the local cloud engine tests: clouds booted on the fixture templates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.localcloud.cloud import LocalCloud

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "tests" / "fixtures" / "templates"
# A fixed Monday, far from any DST change in the zones the tests use.
EPOCH = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)


def start_cloud(name: str, **kwargs: object) -> LocalCloud:
    return LocalCloud.start(ROOT, template=TEMPLATES / name, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def basic_cloud() -> Iterator[LocalCloud]:
    """One cloud on basic.yaml per test module (tests keep their data apart)."""
    cloud = start_cloud("basic.yaml", start=EPOCH)
    try:
        yield cloud
    finally:
        cloud.stop()
