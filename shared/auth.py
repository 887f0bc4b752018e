"""Who is calling: members, staff and integrations, and the HMAC signing integrations use.

* **staff** arrive with a Cognito token already verified by the HTTP API's JWT authorizer; the
  claims are in ``requestContext.authorizer.jwt.claims`` and the groups are the roles. API Gateway
  flattens a list claim into the string ``"[admin marketer]"``; both forms are accepted.
* **members** arrive through a Lambda authorizer that verified the member token; its context is
  in ``requestContext.authorizer.lambda`` (``subject``, ``member_id`` — null until registered).
* **integrations** (POS, online mall, parking, WeChat Pay relays) sign each request with a
  per-source secret: :func:`sign_request` / :func:`verify_signed_request`. The nonce is returned
  so the caller can reject replays with a conditional put in its own table.

No claim is trusted here that the gateway has not verified: this module reads, it does not verify
tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from shared.errors import Forbidden, Unauthorized

__all__ = [
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_SOURCE",
    "HEADER_TIMESTAMP",
    "SIGNATURE_ALGORITHM",
    "STAFF_ROLES",
    "Principal",
    "PrincipalKind",
    "SignedRequest",
    "canonical_request",
    "event_body_bytes",
    "principal_from_event",
    "require_member",
    "require_roles",
    "sign_request",
    "verify_signed_request",
]

PrincipalKind = Literal["member", "staff", "integration"]
STAFF_ROLES: frozenset[str] = frozenset({"admin", "marketer", "service_agent", "store_staff", "loyalty_ops"})

HEADER_SOURCE = "X-MallCRM-Source"
HEADER_TIMESTAMP = "X-MallCRM-Timestamp"
HEADER_NONCE = "X-MallCRM-Nonce"
HEADER_SIGNATURE = "X-MallCRM-Signature"
SIGNATURE_ALGORITHM = "MALLCRM-HMAC-SHA256"

_NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. ``subject`` is stable per caller (Cognito ``sub``, member token
    subject, integration source); ``member_id`` is set for registered members only."""

    kind: PrincipalKind
    subject: str
    member_id: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_any_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def _authorizer(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") or {}
    return authorizer if isinstance(authorizer, Mapping) else {}


def _parse_groups(raw: Any) -> frozenset[str]:
    """``["admin", "marketer"]``, ``"[admin marketer]"``, ``'["admin","marketer"]'`` or ``"admin"``."""
    if raw is None:
        return frozenset()
    if isinstance(raw, list | tuple | set | frozenset):
        items = [str(x) for x in raw]
    else:
        items = re.split(r"[\s,]+", str(raw).strip().strip("[]"))
    return frozenset(item.strip().strip("\"'") for item in items if item.strip().strip("\"'"))


def principal_from_event(event: Mapping[str, Any]) -> Principal:
    """The caller of an HTTP API (payload v2) request; :class:`Unauthorized` when there is none."""
    authorizer = _authorizer(event)
    jwt = authorizer.get("jwt")
    if isinstance(jwt, Mapping) and isinstance(jwt.get("claims"), Mapping):
        claims = jwt["claims"]
        subject = claims.get("sub")
        if not subject:
            raise Unauthorized("unauthenticated", "The token has no subject.")
        return Principal(
            kind="staff", subject=str(subject), roles=_parse_groups(claims.get("cognito:groups"))
        )
    context = authorizer.get("lambda")
    if isinstance(context, Mapping) and context.get("subject"):
        kind = str(context.get("kind") or "member")
        if kind not in ("member", "staff", "integration"):
            raise Unauthorized("unauthenticated", "Unknown principal kind.")
        member_id = context.get("member_id") or None
        return Principal(
            kind=kind,  # type: ignore[arg-type]  # checked against the Literal's values above
            subject=str(context["subject"]),
            member_id=str(member_id) if member_id else None,
            roles=_parse_groups(context.get("roles")),
        )
    raise Unauthorized("unauthenticated", "Authentication is required.")


def require_roles(principal: Principal | None, *roles: str) -> Principal:
    """``principal`` if it is staff holding any of ``roles`` (or any staff when none are given).

    :class:`Unauthorized` without a principal, :class:`Forbidden` otherwise.
    """
    if principal is None:
        raise Unauthorized("unauthenticated", "Authentication is required.")
    if principal.kind != "staff":
        raise Forbidden("staff_only", "This action is for staff.")
    if roles and not principal.has_any_role(*roles):
        raise Forbidden("missing_role", "Your role does not allow this action.")
    return principal


def require_member(principal: Principal | None) -> str:
    """The caller's ``member_id``; :class:`Forbidden` for non-members and unregistered members."""
    if principal is None:
        raise Unauthorized("unauthenticated", "Authentication is required.")
    if principal.kind != "member":
        raise Forbidden("members_only", "This action is for members.")
    if not principal.member_id:
        raise Forbidden("member_not_registered", "Register as a member first.")
    return principal.member_id


def event_body_bytes(event: Mapping[str, Any]) -> bytes:
    """The raw request body of an HTTP API event, base64-decoded when the gateway encoded it.

    Signatures are over these exact bytes, never over re-serialised JSON.
    """
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


# --- integration request signing -------------------------------------------------------------


def canonical_request(method: str, path: str, timestamp: int | str, nonce: str, body: bytes) -> str:
    """The string that is signed, one item per line::

        MALLCRM-HMAC-SHA256
        POST
        /v1/integrations/purchases
        1714550400
        3f0c9a...nonce
        <sha256 hex of the body>

    ``path`` is the request path without the query string (integration endpoints take none).
    """
    return "\n".join(
        [
            SIGNATURE_ALGORITHM,
            method.upper(),
            path,
            str(int(timestamp)),
            nonce,
            hashlib.sha256(body).hexdigest(),
        ]
    )


def sign_request(  # noqa: PLR0917 - the signature is the documented contract
    secret: bytes, method: str, path: str, timestamp: int | str, nonce: str, body: bytes
) -> str:
    """The lower-case hex HMAC-SHA256 of :func:`canonical_request` under ``secret``."""
    message = canonical_request(method, path, timestamp, nonce, body).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    """A request whose signature checked out. The caller must still reject a replayed ``nonce``
    (conditional put of ``NONCE#<source>#<nonce>`` with a TTL beyond the skew window)."""

    source: str
    nonce: str
    timestamp: int


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and value is not None and str(value).strip():
            return str(value).strip()
    raise Unauthorized("signature_header_missing", f"Header {name} is required.")


def verify_signed_request(  # noqa: PLR0917 - the signature is the documented contract
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    key_lookup: Callable[[str], bytes | None],
    now: datetime,
    max_skew_seconds: int = 300,
) -> SignedRequest:
    """Check an integration request's signature headers; :class:`Unauthorized` with a specific code:

    ``signature_header_missing``, ``signature_source_invalid``, ``signature_timestamp_invalid``,
    ``signature_timestamp_stale``, ``signature_nonce_invalid``, ``signature_source_unknown``,
    ``signature_invalid``.

    The clock is checked before the key is looked up, so stale or malformed requests cost no
    Secrets Manager call. Signatures are compared in constant time.
    """
    source = _header(headers, HEADER_SOURCE)
    raw_timestamp = _header(headers, HEADER_TIMESTAMP)
    nonce = _header(headers, HEADER_NONCE)
    signature = _header(headers, HEADER_SIGNATURE).lower()

    if not _SOURCE_RE.match(source):
        raise Unauthorized("signature_source_invalid", f"Header {HEADER_SOURCE} is not a valid source name.")
    # isdigit() alone accepts '²', which int() refuses: ASCII digits only.
    if not (raw_timestamp.isascii() and raw_timestamp.isdigit()) or len(raw_timestamp) > 12:
        raise Unauthorized("signature_timestamp_invalid", f"Header {HEADER_TIMESTAMP} must be epoch seconds.")
    timestamp = int(raw_timestamp)
    if abs(now.timestamp() - timestamp) > max_skew_seconds:
        raise Unauthorized(
            "signature_timestamp_stale", "The request timestamp is outside the allowed window."
        )
    if not _NONCE_RE.match(nonce):
        raise Unauthorized(
            "signature_nonce_invalid", f"Header {HEADER_NONCE} must be 16-128 URL-safe characters."
        )

    secret = key_lookup(source)
    if not secret:
        raise Unauthorized("signature_source_unknown", "The request source is not known.")
    expected = sign_request(secret, method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
        raise Unauthorized("signature_invalid", "The request signature does not match.")
    return SignedRequest(source=source, nonce=nonce, timestamp=timestamp)
