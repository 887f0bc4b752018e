"""The members functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class MembersSettings(ServiceSettings):
    table_name: str
