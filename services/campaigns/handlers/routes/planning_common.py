"""Shared bits of the segments and campaigns routers: roles, settings, page tokens."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from services.campaigns.logic.errors import InvalidNextToken
from services.campaigns.models.planning import PlanningApiSettings
from shared.auth import principal_from_event, require_roles
from shared.settings import load
from shared.web import Router

ROLES = ("admin", "marketer")


def staff(router: Router) -> str:
    """The caller's subject; 403 unless admin or marketer (the gateway proves only the token)."""
    return require_roles(principal_from_event(router.current_event.raw_event), *ROLES).subject


def settings() -> PlanningApiSettings:
    return load(PlanningApiSettings)


def encode_token(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_token(token: str | None, pk: str) -> dict[str, Any] | None:
    """Only a key of the listing's own index partition is accepted back."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidNextToken() from None
    if not isinstance(key, dict) or key.get("gsi1pk") != {"S": pk}:
        raise InvalidNextToken()
    return key
