"""Inputs of the ChurnWarning state machine's Lambda tasks (infra/statemachines/churn_warning.asl.json)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.campaigns.models.entities import Outcome


class _TaskInput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    episode_id: str
    member_id: str


class RecordStartInput(_TaskInput):
    execution_id: str


class CheckConsentInput(_TaskInput):
    pass


class CheckReturnedInput(_TaskInput):
    started_at: AwareDatetime


class RecordOutcomeInput(_TaskInput):
    outcome: Outcome
    last_purchase_at: AwareDatetime | None = None
    error: str | None = None


class ContactTaskInput(_TaskInput):
    """CampaignsJourneyContactFunction's tasks (CheckRecentContact, SendWinBack, EscalateIfValuable)."""

    action: Literal["recent_contact", "send_win_back", "escalate"]
    observe_seconds: int | None = None
    execution_name: str | None = None
    last_purchase_at: AwareDatetime | None = None
