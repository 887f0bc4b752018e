"""Environment of MembersBirthdayFunction (read when the handler runs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.members.models.settings import MembersSettings


class MembersBirthdaySettings(MembersSettings):
    # day: one event on the birthday; month: on the 1st, one event per member born that month.
    birthday_mode: Literal["day", "month"] = "day"
    # Members per TransactWriteItems (3 items each: profile check, yearly marker, outbox).
    birthday_batch_size: int = Field(default=33, ge=1, le=33)
    # Stop this many seconds before the Lambda limit; the next run resumes from the checkpoint.
    birthday_stop_seconds: float = 30.0
