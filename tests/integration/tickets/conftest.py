"""The tickets integration tests' fixture (support.py holds the helpers)."""

from tests.integration.tickets.support import tickets_env  # noqa: F401 - a fixture, found by name
