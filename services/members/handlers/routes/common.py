"""What every members route needs, built per request: settings, keys, repository, vault, caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.members.dal.members import DynamoMembersRepository
from services.members.dal.vault import KmsDataKeyStore
from services.members.dal.wechat import (
    FakeWeChatLogin,
    WeChatCode2Session,
    WeChatLogin,
    wechat_app_credentials,
)
from services.members.logic.tokens import derive_key
from services.members.logic.vault import VaultError, VaultSession
from services.members.models.api_settings import MembersApiSettings
from shared.auth import Principal, principal_from_event
from shared.aws import target as aws_target
from shared.errors import MallCrmError, NotFound
from shared.secrets import secret_bytes, secret_string
from shared.settings import load

LOCAL_TARGETS = ("local", "localstack")


@dataclass
class Deps:
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
        return secret_bytes(self.settings.member_token_key_secret_arn, self.settings.secret_cache_seconds)

    def token_key(self) -> bytes:
        return derive_key(self._master(), "member-token")

    def code_key(self) -> bytes:
        return derive_key(self._master(), "member-code")

    def pepper(self) -> bytes:
        return secret_bytes(self.settings.lookup_pepper_secret_arn, self.settings.secret_cache_seconds)

    def wechat(self) -> WeChatLogin:
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
