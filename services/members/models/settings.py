"""The members functions' environment (read by ``shared.settings.load`` when a handler runs)."""

from __future__ import annotations

from pydantic import ConfigDict, field_validator

from shared.settings import ServiceSettings


class MembersSettings(ServiceSettings):
    # defer_build: the validator is built at the first load(), not at import (cold start).
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    table_name: str
    # The export bucket (MemberExportsBucket): other services' parts of a member's data export.
    member_exports_bucket: str | None = None
    # The services expected to add a part to an export (MemberExportRequested consumers);
    # MEMBER_EXPORT_PARTS is comma-separated ("loyalty,tickets,campaigns").
    member_export_parts: tuple[str, ...] = ("loyalty", "tickets", "campaigns")

    @field_validator("member_export_parts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
