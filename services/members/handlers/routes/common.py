"""What every members route needs, built per request: settings, keys, repository, vault, caller."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.members.dal.members import DynamoMembersRepository
from services.members.dal.vault import KmsDataKeyStore
from services.members.logic.audit import AuditAction, audit_entry
from services.members.logic.tokens import derive_key
from services.members.logic.vault import VaultError, VaultSession
from services.members.models.api_settings import MembersApiSettings
from shared import clock
from shared.auth import Principal, principal_from_event
from shared.aws import target as aws_target
from shared.errors import MallCrmError, NotFound
from shared.ids import new_ulid
from shared.secrets import secret_bytes, secret_string
from shared.settings import load

if TYPE_CHECKING:  # pragma: no cover - typing only
    from services.members.dal.email import EmailSender
    from services.members.dal.sms import SmsSender
    from services.members.dal.wechat import WeChatLogin

LOCAL_TARGETS = ("local", "localstack")


@dataclass
class Deps:
    """A request's settings and the keys, repository, vault and adapters built from them."""

    settings: MembersApiSettings

    @classmethod
    def load(cls) -> Deps:
        return cls(load(MembersApiSettings))

    @property
    def repo(self) -> DynamoMembersRepository:
        return DynamoMembersRepository(self.settings.table_name)

    def vault(self) -> VaultSession:
        return VaultSession(KmsDataKeyStore(self.settings.data_key_arn))

    def _master(self) -> bytes:
        # AWSCURRENT: what signs. The authorizer also accepts AWSPREVIOUS (dal/tokens.py).
        return secret_bytes(self.settings.member_token_key_secret_arn, self.settings.secret_cache_seconds)

    def token_key(self) -> bytes:
        return derive_key(self._master(), "member-token")

    def code_key(self) -> bytes:
        return derive_key(self._master(), "member-code")

    def code_keys(self) -> list[bytes]:
        """Member-code keys accepted: the current secret's and, after a rotation, the previous one's."""
        from services.members.dal.tokens import token_masters  # noqa: PLC0415 - the verifying route only

        masters = token_masters(self.settings.member_token_key_secret_arn, self.settings.secret_cache_seconds)
        return [derive_key(master, "member-code") for master in masters]

    def phone_code_key(self) -> bytes:
        return derive_key(self._master(), "phone-code")

    def pepper(self) -> bytes:
        return secret_bytes(self.settings.lookup_pepper_secret_arn, self.settings.secret_cache_seconds)

    def sms(self) -> SmsSender:
        # Only the phone-change route sends SMS: the other routes do not import the adapters.
        from services.members.dal.sms import (  # noqa: PLC0415
            AliyunSms,
            FakeSmsSender,
            SmsCredentials,
        )

        target = aws_target()
        choice = self.settings.sms_adapter
        if choice == "auto":
            choice = "fake" if target in LOCAL_TARGETS else "aliyun"
        if choice == "fake":
            if target not in LOCAL_TARGETS:
                # Never on AWS: the fake sends nothing, members would never get their code.
                raise RuntimeError("the fake SMS sender is for the local cloud only")
            return FakeSmsSender()
        if not self.settings.sms_provider_secret_arn:
            raise RuntimeError("SMS_PROVIDER_SECRET_ARN is not set")
        secret = secret_string(self.settings.sms_provider_secret_arn, self.settings.secret_cache_seconds)
        return AliyunSms(SmsCredentials.from_secret(secret))

    def email_code_key(self) -> bytes:
        return derive_key(self._master(), "email-code")

    def email_sender(self) -> EmailSender:
        # Only the e-mail verification route sends mail: the other routes do not import the adapters.
        from services.members.dal.email import (  # noqa: PLC0415
            EmailUnavailable,
            FakeVerificationMail,
            SesVerificationMail,
        )

        target = aws_target()
        choice = self.settings.email_adapter
        if choice == "auto":
            choice = "fake" if target in LOCAL_TARGETS else "ses"
        if choice == "fake":
            if target not in LOCAL_TARGETS:
                # Never on AWS: the fake sends nothing, members would never get their code.
                raise RuntimeError("the fake e-mail sender is for the local cloud only")
            return FakeVerificationMail()
        if not self.settings.email_from:
            # No sender identity configured (EMAIL_FROM empty): verification is switched off.
            raise EmailUnavailable()
        return SesVerificationMail(self.settings.email_from, self.settings.email_configuration_set)

    def wechat(self) -> WeChatLogin:
        # Only the login route calls WeChat: urllib.request is not loaded for the others.
        from services.members.dal.wechat import (  # noqa: PLC0415
            FakeWeChatLogin,
            WeChatCode2Session,
            wechat_app_credentials,
        )

        target = aws_target()
        choice = self.settings.wechat_login_adapter
        if choice == "auto":
            choice = "fake" if target in LOCAL_TARGETS else "wechat"
        if choice == "fake":
            if target not in LOCAL_TARGETS:
                # Never on AWS: the fake accepts any local:<openid>.
                raise RuntimeError("the fake WeChat login is for the local cloud only")
            return FakeWeChatLogin()
        if not self.settings.wechat_app_secret_arn:
            raise RuntimeError("WECHAT_APP_SECRET_ARN is not set")
        app_id, app_secret = wechat_app_credentials(
            secret_string(self.settings.wechat_app_secret_arn, self.settings.secret_cache_seconds)
        )
        return WeChatCode2Session(app_id, app_secret)


def caller(event: Mapping[str, Any]) -> Principal:
    return principal_from_event(event)


def authorizer_context(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    return context if isinstance(context, Mapping) else {}


def correlation_id(event: Mapping[str, Any]) -> str:
    headers = event.get("headers") or {}
    return str(headers.get("x-correlation-id") or (event.get("requestContext") or {}).get("requestId") or "")


def open_member(deps: Deps, member_id: str, vault: VaultSession) -> tuple[dict[str, Any], dict[str, str]]:
    """The active member's profile and opened PII; 404 for unknown or erased members."""
    profile, wrapped = deps.repo.profile_and_key(member_id)
    if profile is None or profile.get("status") != "active" or wrapped is None:
        raise NotFound("member_not_found", "No such member.")
    vault.load(member_id, wrapped)
    try:
        return profile, vault.open(member_id, profile)
    except VaultError:
        raise MallCrmError(500, "vault_error", "Internal error.") from None


def open_for_staff(
    deps: Deps,
    member_id: str,
    staff: Principal,
    action: AuditAction | None,
    *,
    fields: Iterable[str] | None = None,
    reason: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Open the member's PII for a staff view (the plaintext key is forgotten at once), then write
    the audit entry of ``action`` (None: no entry, e.g. a masked 360° view). ``fields`` defaults to
    the names of the fields opened. The entry comes after the read: a failed read is no access."""
    vault = deps.vault()
    try:
        profile, opened = open_member(deps, member_id, vault)
    finally:
        vault.forget()
    if action is not None:
        deps.repo.put_audit(
            audit_entry(
                member_id=member_id,
                actor=staff,
                action=action,
                fields=sorted(opened) if fields is None else fields,
                reason=reason,
                now=clock.now(),
                entry_id=new_ulid(),
            )
        )
    return profile, opened
