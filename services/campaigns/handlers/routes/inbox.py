"""The member's in-app inbox (MemberToken). Served by ``CampaignsInboxApiFunction``
(handlers/inbox_api.py); also included by handlers/api.py so the API document describes it.

* ``GET /v1/members/me/inbox?limit=&next_token=`` — newest first, each with ``read_at`` / ``clicked_at``;
* ``POST /v1/members/me/inbox/{message_id}/read`` — the member read the message (``read_at`` once;
  idempotent; DESIGN §9's path);
* ``POST /v1/members/me/inbox/{message_id}/click`` — the member opened the message (MessageClicked
  once; also reads it).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel

from services.campaigns.models.settings import CampaignsSettings
from shared import clock
from shared.auth import principal_from_event, require_member
from shared.settings import load
from shared.web import Path, Query, Router

# The repository and logic are imported by the routes that use them: CampaignsApiFunction includes
# this router only for the API document and should not pay for them at its cold start.

router = Router()


class InboxMessageOut(BaseModel):
    message_id: str
    kind: str
    topic: str | None
    title: str | None
    body: str
    link: str | None
    sent_at: str
    read_at: str | None
    clicked_at: str | None


class InboxPageOut(BaseModel):
    items: list[InboxMessageOut]
    next_token: str | None


def _out(item: dict[str, Any]) -> InboxMessageOut:
    return InboxMessageOut(
        message_id=str(item["message_id"]),
        kind=str(item.get("kind") or "marketing"),
        topic=item.get("topic"),
        title=item.get("title"),
        body=str(item.get("body") or ""),
        link=item.get("link"),
        sent_at=str(item["sent_at"]),
        # A message clicked before read_at existed was read when it was clicked.
        read_at=item.get("read_at") or item.get("clicked_at"),
        clicked_at=item.get("clicked_at"),
    )


@router.get("/v1/members/me/inbox", summary="The member's in-app messages, newest first", tags=["inbox"])
def list_inbox(
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    next_token: Annotated[str | None, Query(max_length=1024)] = None,
) -> InboxPageOut:
    from services.campaigns.dal.inbox import DynamoInbox  # noqa: PLC0415

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    page = DynamoInbox(load(CampaignsSettings).table_name).newest_first(member_id, limit, next_token)
    return InboxPageOut(items=[_out(i) for i in page.items], next_token=page.next_token)


@router.post(
    "/v1/members/me/inbox/<message_id>/click",
    summary="Record that the member opened an inbox message",
    tags=["inbox"],
)
def click_inbox_message(
    message_id: Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")],
) -> InboxMessageOut:
    from services.campaigns.dal.inbox import DynamoInbox  # noqa: PLC0415
    from services.campaigns.logic.inbox import click  # noqa: PLC0415

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    repo = DynamoInbox(load(CampaignsSettings).table_name)
    return _out(click(member_id, message_id, repo, now=clock.now()))


@router.post(
    "/v1/members/me/inbox/<message_id>/read",
    summary="Mark an inbox message read (idempotent)",
    tags=["inbox"],
)
def read_inbox_message(
    message_id: Annotated[str, Path(pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")],
) -> InboxMessageOut:
    from services.campaigns.dal.inbox import DynamoInbox  # noqa: PLC0415
    from services.campaigns.logic.inbox import read  # noqa: PLC0415

    member_id = require_member(principal_from_event(router.current_event.raw_event))
    repo = DynamoInbox(load(CampaignsSettings).table_name)
    return _out(read(member_id, message_id, repo, now=clock.now()))
