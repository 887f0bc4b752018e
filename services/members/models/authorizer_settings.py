"""Environment of MemberAuthorizerFunction (read at call time). Apart from the API's settings so
that the authorizer's cold start imports no other members model."""

from __future__ import annotations

from pydantic import ConfigDict

from shared.settings import ServiceSettings


class MemberAuthorizerSettings(ServiceSettings):
    # defer_build: the validator is built at the first load(), not at import (cold start).
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    member_token_key_secret_arn: str
    table_name: str  # the members table: tokens_valid_after (revocation)
    secret_cache_seconds: int = 300
