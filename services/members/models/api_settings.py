"""Environment of the members API function (read at call time); the authorizer's is in
``authorizer_settings``."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from services.members.models.settings import MembersSettings


class MembersApiSettings(MembersSettings):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

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
    # Verification codes by SMS (phone change). auto: the fake where MALLCRM_AWS_TARGET is
    # local/localstack, Aliyun SMS everywhere else (credentials in SmsProviderSecret).
    sms_adapter: Literal["auto", "aliyun", "fake"] = "auto"
    sms_provider_secret_arn: str | None = None
    # Verification codes by e-mail (the member's address). auto: the fake where MALLCRM_AWS_TARGET
    # is local/localstack, Amazon SES v2 everywhere else, from ``email_from`` (a verified SES
    # identity; empty = e-mail verification unavailable, 503).
    email_adapter: Literal["auto", "ses", "fake"] = "auto"
    email_from: str | None = None
    email_configuration_set: str | None = None
