"""The contact directory's request and environment (``MembersContactDirectoryFunction``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.members.models.settings import MembersSettings

ContactChannel = Literal["sms", "email", "wechat"]


class ContactRequest(BaseModel):
    """``{member_id, channel, purpose}``: one address for one send. ``purpose`` says why (campaigns
    passes the send id: ``cmp#<campaign>#<member>`` / ``jrn#…`` marketing, ``ntf#<id>``
    transactional) and goes into the audit entry. It does not change the consent rule: every
    purpose needs the member's marketing consent on the channel (logic/contacts.py)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    member_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")
    channel: ContactChannel
    purpose: str = Field(min_length=1, max_length=200)


class ContactDirectorySettings(MembersSettings):
    data_key_arn: str
