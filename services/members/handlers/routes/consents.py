"""Consent routes of MembersApiFunction (included by services/members/handlers/api.py).

* ``PUT /v1/members/me/consents`` — record decisions (``{"consents": [{purpose, channel?, granted,
  text_version}, ...]}``); unknown purpose/channel → 422 and nothing written; unchanged decisions
  write nothing.
* ``GET /v1/members/me/consents?limit=&next_token=`` — every consent (undecided = not granted)
  and the history, newest first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from services.members.models.consents import (
    ConsentHistoryOut,
    ConsentOut,
    ConsentsUpdate,
    ConsentsUpdated,
    ConsentsView,
)
from services.members.models.settings import MembersSettings
from shared import clock
from shared.auth import principal_from_event, require_member
from shared.ids import new_ulid
from shared.settings import load
from shared.web import Query, Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.members.logic.consents import ConsentKey, ConsentState

# The consents logic and repository are imported by the routes that use them (cold start: the
# profile, code and staff routes never need them).

router = Router()
PRODUCER = "members.api"


def correlation_id(event: Any) -> str:
    headers = event.headers or {}
    return str(headers.get("x-correlation-id") or event.request_context.request_id)


def consents_out(current: dict[ConsentKey, ConsentState]) -> list[ConsentOut]:
    from services.members.logic.consents import CATALOGUE  # noqa: PLC0415

    out = []
    for purpose, channel in CATALOGUE:
        state = current.get((purpose, channel))
        out.append(
            ConsentOut(
                purpose=purpose,
                channel=channel,
                granted=state.granted if state else False,
                text_version=state.text_version if state else None,
                changed_at=clock.to_utc_iso(state.changed_at) if state else None,
                source=state.source if state else None,
            )
        )
    return out


@router.put("/v1/members/me/consents", summary="Record consent decisions", tags=["members", "consents"])
def put_consents(body: ConsentsUpdate) -> ConsentsUpdated:
    from services.members.dal.consents import DynamoConsentRepository  # noqa: PLC0415
    from services.members.logic.consents import apply_decisions  # noqa: PLC0415

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    repo = DynamoConsentRepository(load(MembersSettings).table_name)
    applied = apply_decisions(
        member_id,
        body.consents,
        repo,
        new_id=new_ulid,
        correlation_id=correlation_id(router.current_event),
        producer=PRODUCER,
    )
    return ConsentsUpdated(consents=consents_out(applied.consents), changed=applied.changed)


@router.get(
    "/v1/members/me/consents", summary="Current consents and their history", tags=["members", "consents"]
)
def get_consents(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> ConsentsView:
    from services.members.dal.consents import DynamoConsentRepository  # noqa: PLC0415
    from services.members.logic.consents import MemberNotFound  # noqa: PLC0415

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    repo = DynamoConsentRepository(load(MembersSettings).table_name)
    if not repo.member_active(member_id):
        raise MemberNotFound()
    entries, token = repo.history(member_id, limit=limit, next_token=next_token)
    history = [
        ConsentHistoryOut(
            purpose=e["purpose"],
            channel=e.get("channel"),
            granted=bool(e["granted"]),
            previous_granted=e.get("previous_granted"),
            text_version=e["text_version"],
            changed_at=e["changed_at"],
            source=e.get("source", "member"),
        )
        for e in entries
    ]
    return ConsentsView(consents=consents_out(repo.current(member_id)), history=history, next_token=token)
