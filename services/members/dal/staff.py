"""Staff login against the Cognito user pool (USER_PASSWORD_AUTH on the console's app client)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from shared.aws import client
from shared.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class StaffTokens:
    """Cognito's tokens for a staff login, and the roles (groups)."""

    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int
    roles: list[str]


def _groups(id_token: str) -> list[str]:
    """``cognito:groups`` of a token Cognito just issued to us (read, not verified: the gateway's
    JWT authorizer verifies it on every staff request)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return []
    groups = claims.get("cognito:groups") or []
    return sorted(str(g) for g in groups) if isinstance(groups, list) else []


def staff_login(client_id: str, username: str, password: str) -> StaffTokens:
    """Tokens for valid credentials. Unknown user and wrong password are the same 401 (the app
    client has PreventUserExistenceErrors, and this maps both exceptions to one answer)."""
    idp = client("cognito-idp")
    try:
        result = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException):
        raise Unauthorized("invalid_credentials", "The username or password is wrong.") from None
    except idp.exceptions.PasswordResetRequiredException:
        raise Forbidden("password_reset_required", "Reset your password first.") from None
    auth = result.get("AuthenticationResult")
    if not auth:
        # A challenge (NEW_PASSWORD_REQUIRED, MFA): the console completes it with Cognito itself.
        raise Forbidden(
            "challenge_required", f"Complete the {result.get('ChallengeName', 'login')} step first."
        )
    id_token = str(auth["IdToken"])
    return StaffTokens(
        id_token=id_token,
        access_token=str(auth["AccessToken"]),
        refresh_token=auth.get("RefreshToken"),
        expires_in=int(auth.get("ExpiresIn", 3600)),
        roles=_groups(id_token),
    )
