"""Request and response bodies of the members API (OpenAPI is generated from these)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.members.models.consents import ConsentIn

Gender = Literal["female", "male", "undisclosed"]
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (names reach logs, masked)
_EMAIL_DESCRIPTION = (
    "Optional e-mail address for marketing by e-mail (with the marketing/email consent): trimmed, "
    "domain lower-cased, 7-bit ASCII (an international domain in its xn-- form), at most 254 "
    "characters; 422 email_invalid otherwise. Sealed in the PII vault; not a lookup key."
)


class _Out(BaseModel):
    # defer_build: a model's validator is built when a route first uses it, not at import — one
    # request pays for its own models, not for the whole API's (cold start).
    model_config = ConfigDict(defer_build=True)


class _Strict(_Out):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class WeChatLoginRequest(_Strict):
    code: str = Field(
        min_length=1, max_length=256, description="wx.login() code (local cloud: local:<openid>)."
    )


class MemberTokenResponse(_Out):
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name
    expires_in: int
    member_id: str | None = Field(description="Null until the member registers.")
    registered: bool


class StaffLoginRequest(_Strict):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


class StaffLoginResponse(_Out):
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name
    roles: list[str]


class RegistrationRequest(_Strict):
    phone: str = Field(min_length=3, max_length=32)
    name: str = Field(min_length=1, max_length=50, pattern=_PRINTABLE)
    gender: Gender = "undisclosed"
    birthday: date | None = None
    preferred_store_id: str | None = Field(default=None, min_length=1, max_length=64)
    preferred_categories: list[str] = Field(default_factory=list, max_length=20)
    card_number: str | None = Field(default=None, min_length=1, max_length=40)
    plates: list[str] = Field(default_factory=list, max_length=5)
    email: str | None = Field(default=None, min_length=3, max_length=254, description=_EMAIL_DESCRIPTION)
    consents: list[ConsentIn] = Field(
        default_factory=list,
        max_length=20,
        description="Initial consent decisions (the consents API's ConsentIn; each consent at most once).",
    )

    @model_validator(mode="after")
    def _unique_consents(self) -> RegistrationRequest:
        seen: set[tuple[str, str | None]] = set()
        for consent in self.consents:
            if (consent.purpose, consent.channel) in seen:
                raise ValueError("the same consent (purpose, channel) appears twice")
            seen.add((consent.purpose, consent.channel))
        return self


class ProfilePatch(_Strict):
    """Only the fields sent change. The phone changes through SMS verification (/v1/members/me/phone)."""

    name: str | None = Field(default=None, min_length=1, max_length=50, pattern=_PRINTABLE)
    gender: Gender | None = None
    birthday: date | None = None
    preferred_store_id: str | None = Field(default=None, min_length=1, max_length=64)
    preferred_categories: list[str] | None = Field(default=None, max_length=20)
    card_number: str | None = Field(default=None, min_length=1, max_length=40)
    plates: list[str] | None = Field(default=None, max_length=5)
    email: str | None = Field(
        default=None,
        min_length=3,
        max_length=254,
        description=_EMAIL_DESCRIPTION + " null removes the address.",
    )


class MemberOut(_Out):
    """The owner's view: clear values."""

    member_id: str
    status: str
    name: str | None
    phone: str | None
    gender: str
    birthday: date | None
    preferred_store_id: str | None
    preferred_categories: list[str]
    card_number: str | None
    plates: list[str]
    email: str | None = None
    email_verified: bool = Field(
        default=False,
        description="The address was confirmed with a code sent to it (POST /v1/members/me/email/"
        "confirmation); only a verified address receives marketing by e-mail.",
    )
    registered_at: str
    channel: str


class RegistrationResponse(_Out):
    member: MemberOut
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name
    expires_in: int


class MaskedMember(_Out):
    """The staff view: masked values."""

    member_id: str
    status: str
    name: str | None
    phone: str | None
    gender: str
    birthday: str | None
    card_number: str | None
    plates: list[str]
    email: str | None = Field(default=None, description="Masked: z***@example.com.")
    email_verified: bool = False
    preferred_store_id: str | None
    registered_at: str


class MemberSearchResponse(_Out):
    members: list[MaskedMember]


class MemberCodeResponse(_Out):
    code: str
    expires_at: str
    expires_in: int


class VerifyCodeRequest(_Strict):
    code: str = Field(min_length=1, max_length=128)


class PhoneChangeRequest(_Strict):
    """``POST /v1/members/me/phone/verification``: the new number (normalised to E.164)."""

    phone: str = Field(min_length=3, max_length=32)


class PhoneCodeSent(_Out):
    sent_to: str = Field(description="The new number, masked.")
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_after: int = Field(description="Seconds before another code may be asked for.")


class PhoneChangeConfirm(_Strict):
    """``POST /v1/members/me/phone``: the code received by SMS."""

    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")


class EmailCodeSent(_Out):
    sent_to: str = Field(description="The address, masked.")
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_after: int = Field(description="Seconds before another code may be asked for.")


class EmailConfirm(_Strict):
    """``POST /v1/members/me/email/confirmation``: the code received by e-mail."""

    code: str = Field(min_length=6, max_length=6, pattern=r"^[0-9]{6}$")
