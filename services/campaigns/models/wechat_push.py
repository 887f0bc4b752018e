"""CampaignsWeChatPushFunction's environment (read by ``shared.settings.load`` when it runs)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from services.campaigns.models.settings import CampaignsSettings


class WeChatPushSettings(CampaignsSettings):
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    # WeChatMessagePushSecret: {"token": "<the Token entered in the mini-program's message push>"}.
    wechat_push_secret_arn: str
    secret_cache_seconds: int = Field(default=300, ge=0, le=3600)
    # Plaintext mode signs only Token, timestamp and nonce: a push whose timestamp is further than
    # this from now is refused (bounds the replay of a captured URL; WeChat retries within seconds).
    wechat_push_max_skew_seconds: int = Field(default=300, ge=30, le=3600)
