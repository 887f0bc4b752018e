"""``PUT /v1/members/me/preferences`` and ``GET /v1/members/me/preferences`` (member; contract G).

One call turns personalised recommendations and marketing per channel on or off; each switch that
changes is recorded as a consent change (current item + history + ``MemberConsentChanged``, one
transaction, as ``PUT /v1/members/me/consents``) — campaigns enforces through its projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.members.handlers.routes.consents import consents_out, correlation_id
from services.members.models.preferences import PreferencesUpdate, PreferencesView
from services.members.models.settings import MembersSettings
from shared.auth import principal_from_event, require_member
from shared.ids import new_ulid
from shared.settings import load
from shared.web import Router

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.members.logic.consents import ConsentKey, ConsentState

router = Router()
PRODUCER = "members.api"


def _view(consents: dict[ConsentKey, ConsentState], changed: int) -> PreferencesView:
    from services.members.logic.preferences import preference_switches  # noqa: PLC0415

    personalised, marketing = preference_switches(consents)
    return PreferencesView(
        personalised_recommendations=personalised,
        marketing=marketing,
        consents=consents_out(consents),
        changed=changed,
    )


@router.put(
    "/v1/members/me/preferences",
    summary="Switch personalised recommendations and marketing per channel on or off",
    description="Each switch is the consent behind it (personalisation; marketing per channel): a change "
    "is recorded with history and MemberConsentChanged, and campaigns stops (or resumes) accordingly. "
    "Switches left out are not changed; an unchanged switch writes nothing.",
    tags=["members", "consents"],
    responses={404: {"description": "Unknown or erased member"}, 409: {"description": "Concurrent change"}},
)
def put_preferences(body: PreferencesUpdate) -> PreferencesView:
    from services.members.dal.consents import DynamoConsentRepository  # noqa: PLC0415
    from services.members.logic.consents import apply_decisions  # noqa: PLC0415
    from services.members.logic.preferences import preference_decisions  # noqa: PLC0415

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    repo = DynamoConsentRepository(load(MembersSettings).table_name)
    applied = apply_decisions(
        member_id,
        preference_decisions(body),
        repo,
        new_id=new_ulid,
        correlation_id=correlation_id(router.current_event),
        producer=PRODUCER,
    )
    return _view(applied.consents, applied.changed)


@router.get(
    "/v1/members/me/preferences",
    summary="The member's preference switches (from their consents)",
    tags=["members", "consents"],
)
def get_preferences() -> PreferencesView:
    from services.members.dal.consents import DynamoConsentRepository  # noqa: PLC0415
    from services.members.logic.consents import MemberNotFound  # noqa: PLC0415

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    repo = DynamoConsentRepository(load(MembersSettings).table_name)
    if not repo.member_active(member_id):
        raise MemberNotFound()
    return _view(repo.current(member_id), 0)
