"""Member tokens and member codes: compact HMAC-signed credentials, pure (no AWS, no clock reads).

* **Member token** — a JWT (RFC 7519) in JWS compact form, ``alg`` HS256 only (the header's ``alg``
  is checked, never trusted: no ``none``, no algorithm confusion). Claims: ``iss``, ``aud``,
  ``sub`` (the keyed hash of the WeChat openid — never the openid), ``mid`` (the member id, absent
  until registration), ``uid`` (keyed hash of the unionid, when WeChat gave one), ``iat``, ``exp``,
  ``jti``. Written here with ``hmac``/``base64``/``json`` rather than PyJWT: PyJWT costs ~220 ms of
  cold import (it loads ``cryptography``), and HS256 is twenty lines.
* **Member code** — what the till scans: ``MC1.<base64url(member id 16 B | expiry 4 B | nonce 4 B
  | MAC 10 B)>`` = 50 characters, fits a small QR code or a Code 128 barcode. MAC = HMAC-SHA256
  truncated to 80 bits (enough for a code that lives 60 s: forging one needs ~2^79 tries).

Keys are derived from one secret (``MemberTokenKeySecret``) per purpose with HMAC (:func:`derive_key`),
so a token key can never verify a member code and vice versa.

**Rotation:** a token's header carries ``kid`` = :func:`key_id` of the key that signed it (a
truncated HMAC of the key: names it, reveals nothing). Tokens are signed with the secret's
``AWSCURRENT`` version; :func:`verify_token` takes every key still accepted (``AWSCURRENT`` and
``AWSPREVIOUS``) and picks the one the ``kid`` names, so rotating the secret logs nobody out:
tokens signed before the rotation verify under the previous key until they expire (1 h). A token
without ``kid`` (issued before key ids existed) is tried against the current key only.

**Revocation** (per member, "tokens issued up to T are void") is checked by the authorizer against
the profile's ``tokens_valid_after`` (:func:`is_revoked`): ``iat <= tokens_valid_after`` is refused.
**Erasure** voids every token of the member whatever its ``iat``: the authorizer reads the profile's
``status`` in the same GetItem and refuses a token naming a member who is not ``active`` (erased) or
has no profile (:func:`token_refusal`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.errors import Unauthorized, Unprocessable

__all__ = [
    "CODE_PREFIX",
    "TOKEN_AUDIENCE",
    "TOKEN_ISSUER",
    "MemberClaims",
    "derive_key",
    "is_revoked",
    "issue_code",
    "issue_token",
    "key_id",
    "token_refusal",
    "verify_code",
    "verify_token",
]

TOKEN_ISSUER = "mallcrm/members"  # noqa: S105 - a claim value, not a secret
TOKEN_AUDIENCE = "mallcrm/member-api"  # noqa: S105 - a claim value
CODE_PREFIX = "MC1."
_CODE_MAC_BYTES = 10
_CODE_LEN = 16 + 4 + 4 + _CODE_MAC_BYTES
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_HEADER = {"alg": "HS256", "typ": "JWT"}


def derive_key(master: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose (``member-token``, ``member-code``) from the master secret."""
    return hmac.new(master, f"mallcrm/members/{purpose}/v1".encode(), hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """The ``kid`` of a token key: 12 hex characters of HMAC(key, "kid")."""
    return hmac.new(key, b"mallcrm/members/kid", hashlib.sha256).hexdigest()[:12]


def is_revoked(issued_at: int, tokens_valid_after: int | None) -> bool:
    """True for a token issued at or before the member's revocation time (whole seconds, so a
    token from the very second of the revocation is void too)."""
    return tokens_valid_after is not None and issued_at <= tokens_valid_after


def token_refusal(issued_at: int, *, status: str | None, tokens_valid_after: int | None) -> str | None:
    """Why a registered member's token is refused now, or None when it is not.

    ``status`` and ``tokens_valid_after`` are the member's profile as read (``status`` None: no
    profile). A member who is not ``active`` (erased: the profile is a tombstone) has no valid token
    at all, whenever it was issued; otherwise a token issued up to ``tokens_valid_after`` is revoked."""
    if status is None:
        return "member_not_found"
    if status != "active":
        return "member_erased"
    if is_revoked(issued_at, tokens_valid_after):
        return "token_revoked"
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class MemberClaims:
    """A verified member token's claims."""

    subject: str
    member_id: str | None
    unionid_hash: str | None
    issued_at: int
    expires_at: int
    token_id: str


def issue_token(
    key: bytes,
    *,
    subject: str,
    member_id: str | None,
    unionid_hash: str | None,
    now: datetime,
    ttl_seconds: int,
) -> tuple[str, MemberClaims]:
    """A signed member token and its claims."""
    iat = int(now.timestamp())
    claims = MemberClaims(subject, member_id, unionid_hash, iat, iat + ttl_seconds, secrets.token_hex(8))
    payload: dict[str, Any] = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": subject,
        "iat": iat,
        "exp": claims.expires_at,
        "jti": claims.token_id,
    }
    if member_id:
        payload["mid"] = member_id
    if unionid_hash:
        payload["uid"] = unionid_hash
    header = {**_HEADER, "kid": key_id(key)}
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(payload, separators=(",", ":")).encode())
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}", claims


def _invalid(message: str = "The member token is not valid.") -> Unauthorized:
    return Unauthorized("token_invalid", message)


def _key_named(ring: Sequence[bytes], kid: object) -> bytes:
    """The key a token's ``kid`` names (none: the current one); an unknown kid is invalid."""
    if kid is None:
        return ring[0]
    for key in ring:
        if hmac.compare_digest(key_id(key), str(kid)):
            return key
    raise _invalid()


def verify_token(
    keys: bytes | Sequence[bytes], token: str, *, now: datetime, leeway_seconds: int = 30
) -> MemberClaims:
    """The claims of a valid token; :class:`Unauthorized` (``token_invalid``/``token_expired``).

    ``keys``: the accepted token keys, current first (a single key is the current one)."""
    ring = [keys] if isinstance(keys, bytes) else list(keys)
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        raise _invalid()
    try:
        header = json.loads(_unb64(parts[0]))
        signature = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not ring:
        raise _invalid()
    key = _key_named(ring, header.get("kid"))
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise _invalid()
    try:
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(payload, dict):
        raise _invalid()
    if payload.get("iss") != TOKEN_ISSUER or payload.get("aud") != TOKEN_AUDIENCE:
        raise _invalid()
    exp, iat, sub = payload.get("exp"), payload.get("iat"), payload.get("sub")
    if not isinstance(exp, int) or not isinstance(iat, int) or not isinstance(sub, str) or not sub:
        raise _invalid()
    moment = now.timestamp()
    if moment > exp + leeway_seconds:
        raise Unauthorized("token_expired", "The member token has expired; log in again.")
    if iat > moment + leeway_seconds:
        raise _invalid()
    mid, uid = payload.get("mid"), payload.get("uid")
    return MemberClaims(
        subject=sub,
        member_id=mid if isinstance(mid, str) and mid else None,
        unionid_hash=uid if isinstance(uid, str) and uid else None,
        issued_at=iat,
        expires_at=exp,
        token_id=str(payload.get("jti") or ""),
    )


# --- member codes ----------------------------------------------------------------------------------


def _ulid_to_bytes(ulid: str) -> bytes:
    value = 0
    for char in ulid.upper():
        value = value * 32 + _CROCKFORD.index(char)
    return value.to_bytes(16, "big")


def _bytes_to_ulid(data: bytes) -> str:
    value = int.from_bytes(data, "big")
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def issue_code(key: bytes, member_id: str, *, now: datetime, ttl_seconds: int = 60) -> tuple[str, datetime]:
    """A member code valid for ``ttl_seconds`` and its expiry."""
    expires = int(now.timestamp()) + ttl_seconds
    body = _ulid_to_bytes(member_id) + struct.pack(">I", expires) + secrets.token_bytes(4)
    mac = hmac.new(key, CODE_PREFIX.encode() + body, hashlib.sha256).digest()[:_CODE_MAC_BYTES]
    return CODE_PREFIX + _b64(body + mac), datetime.fromtimestamp(expires, UTC)


def verify_code(keys: bytes | Sequence[bytes], code: str, *, now: datetime, leeway_seconds: int = 5) -> str:
    """The member id of a valid, unexpired code; 422 ``code_invalid`` / ``code_expired`` otherwise.

    ``keys``: the code keys accepted (current first; the previous one after a rotation, so the
    codes on screens at that moment still scan)."""
    ring = [keys] if isinstance(keys, bytes) else list(keys)
    code = code.strip()
    if not code.startswith(CODE_PREFIX) or len(code) > 64:
        raise Unprocessable("code_invalid", "This is not a member code.")
    try:
        raw = _unb64(code[len(CODE_PREFIX) :])
    except ValueError:
        raise Unprocessable("code_invalid", "This is not a member code.") from None
    if len(raw) != _CODE_LEN:
        raise Unprocessable("code_invalid", "This is not a member code.")
    body, mac = raw[:-_CODE_MAC_BYTES], raw[-_CODE_MAC_BYTES:]
    signed = CODE_PREFIX.encode() + body
    if not any(
        hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest()[:_CODE_MAC_BYTES], mac)
        for key in ring
    ):
        raise Unprocessable("code_invalid", "The member code is not valid.")
    (expires,) = struct.unpack(">I", body[16:20])
    if now.timestamp() > expires + leeway_seconds:
        raise Unprocessable("code_expired", "The member code has expired; ask for a fresh one.")
    return _bytes_to_ulid(body[:16])
