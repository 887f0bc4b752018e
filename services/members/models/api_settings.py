"""Environment of the members API and authorizer functions (read at call time)."""

from __future__ import annotations

from typing import Literal

from services.members.models.settings import MembersSettings
from shared.settings import ServiceSettings


class MemberAuthorizerSettings(ServiceSettings):
    member_token_key_secret_arn: str
    secret_cache_seconds: int = 300


class MembersApiSettings(MembersSettings):
    member_token_key_secret_arn: str
    lookup_pepper_secret_arn: str
    wechat_app_secret_arn: str | None = None
    data_key_arn: str
    staff_user_pool_client_id: str | None = None
    # auto: the fake adapter where MALLCRM_AWS_TARGET is local/localstack, WeChat everywhere else.
    wechat_login_adapter: Literal["auto", "wechat", "fake"] = "auto"
    member_token_ttl_seconds: int = 3600
    member_code_ttl_seconds: int = 60
    secret_cache_seconds: int = 300
    phone_default_region: str = "CN"
