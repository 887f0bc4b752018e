"""Signature Version 4 for our clients' requests, the same signature as botocore's in less CPU.

botocore signs every request with ``SigV4Auth.add_auth``, which builds the signed headers twice
in an ``email.message.Message`` (a header store made for e-mail, slow to fill and to read),
prepares the whole request a second time only to read its body for the payload hash, splits the
URL twice and derives the signing key with four HMACs: 0.067 ms a request here, 0.013 ms in one
pass, about 5 % of the dispatch function's CPU per message (docs/performance.md, session 10).

:func:`install` changes one thing on one client: when botocore's signer has chosen plain SigV4
(``SigV4Auth``, what DynamoDB, SQS, EventBridge and the rest of our JSON services use), the
signature is computed by :class:`FastSigV4Auth`: the same canonical request and string to sign,
built from plain dicts, the URL's parts and the derived key remembered (the key changes with the
date, region, service and secret, and is derived again when any of them does). Everything else —
which signer, the ``before-sign`` events, credentials and their refresh, presigned URLs, S3's
signer, streaming payloads — is botocore's own. A request outside the plain case (a streaming or
file body, a header value that is not ASCII text, a header name with surrounding spaces) is
signed by botocore's own code.

Equivalence is a test (``tests/unit/shared/test_aws_sign.py``): generated requests signed by both
at the same instant, header for header. ``MALLCRM_SDK_FAST_SIGN=off`` turns it off
(docs/decisions.md).
"""

from __future__ import annotations

import functools
import hmac
from hashlib import sha256
from typing import Any

from botocore import auth as botocore_auth
from botocore.auth import SigV4Auth

__all__ = ["FastSigV4Auth", "install"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_UNSIGNED_HEADERS = frozenset(botocore_auth.SIGNED_HEADERS_BLACKLIST)
_SIGNING_KEYS_KEPT = 16  # a process signs for one secret, a region or two and a few services
_signing_keys: dict[tuple[str, str, str, str], bytes] = {}


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), sha256).digest()


def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one day, region and service (four HMACs), derived once."""
    cache_key = (secret_key, date, region, service)
    derived = _signing_keys.get(cache_key)
    if derived is None:
        derived = f"AWS4{secret_key}".encode()
        for part in (date, region, service, "aws4_request"):
            derived = _hmac(derived, part)
        if len(_signing_keys) >= _SIGNING_KEYS_KEPT:
            _signing_keys.clear()  # a rotated secret or a new day: the old keys are of no more use
        _signing_keys[cache_key] = derived
    return derived


@functools.lru_cache(maxsize=64)
def _url_parts(url: str) -> tuple[str, str, str]:
    """The canonical path, the canonical query string (from the URL) and the host header of ``url``,
    exactly as botocore computes them; a client calls one or two URLs."""
    from urllib.parse import urlsplit  # noqa: PLC0415 - loaded by botocore already

    signer = SigV4Auth(None, "", "")  # the three methods read no credentials, region or service
    parts = urlsplit(url)
    return (
        signer._normalize_url_path(parts.path),
        signer._canonical_query_string_url(parts),
        botocore_auth._host_from_url(url),
    )


class FastSigV4Auth(SigV4Auth):  # type: ignore[misc] # botocore has no type hints
    """``SigV4Auth`` with the signature computed in one pass over plain values (see the module)."""

    def add_auth(self, request: Any) -> None:
        if self.credentials is None:
            super().add_auth(request)  # raises NoCredentialsError, as botocore does
            return
        # botocore.auth's own clock, so what patches it (tests, freezegun) patches both signers.
        timestamp = botocore_auth.get_current_datetime().strftime(botocore_auth.SIGV4_TIMESTAMP)
        request.context["timestamp"] = timestamp
        self._modify_request_before_signing(request)  # date header, session token: botocore's

        signed: dict[str, str] = {}
        for name, value in request.headers.items():
            # botocore's e-mail header store reads back an ASCII string under a trimmed name as
            # it was given; anything else is left to botocore's own code.
            if not isinstance(value, str) or not value.isascii() or name != name.strip():
                super().add_auth(request)
                return
            lower = name.lower()
            if lower not in _UNSIGNED_HEADERS:
                signed[lower] = value
        path, url_query, host = _url_parts(request.url)
        if "host" not in signed:
            signed["host"] = host
        names = sorted(signed)
        canonical_headers = "\n".join(f"{name}:{' '.join(signed[name].split())}" for name in names)
        signed_names = ";".join(names)
        query = self._canonical_query_string_params(request.params) if request.params else url_query
        if "X-Amz-Content-SHA256" in request.headers:
            payload_hash = request.headers["X-Amz-Content-SHA256"]
        else:
            payload_hash = self.payload(request)
        canonical_request = "\n".join(
            (request.method.upper(), path, query, canonical_headers + "\n", signed_names, payload_hash)
        )

        date = timestamp[0:8]
        scope = f"{date}/{self._region_name}/{self._service_name}/aws4_request"
        digest = sha256(canonical_request.encode("utf-8")).hexdigest()
        string_to_sign = f"{_ALGORITHM}\n{timestamp}\n{scope}\n{digest}"
        key = _signing_key(self.credentials.secret_key, date, self._region_name, self._service_name)
        signature = hmac.new(key, string_to_sign.encode("utf-8"), sha256).hexdigest()
        request.headers["Authorization"] = (
            f"{_ALGORITHM} Credential={self.credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )

    def payload(self, request: Any) -> str:
        data = request.data
        if not isinstance(data, bytes) or self._is_streaming_checksum_payload(request):
            return super().payload(request)  # type: ignore[no-any-return]
        if not self._should_sha256_sign_payload(request):
            return str(botocore_auth.UNSIGNED_PAYLOAD)
        # AWSRequest.body prepares the whole request to return ``data`` as it is for bytes.
        return sha256(data).hexdigest() if data else str(botocore_auth.EMPTY_SHA256_HASH)


def install(created: Any) -> bool:
    """Sign ``created``'s plain SigV4 requests with :class:`FastSigV4Auth`; whether it is on."""
    signer: Any = getattr(created, "_request_signer", None)
    choose = getattr(signer, "get_auth_instance", None)
    if choose is None:
        return False

    @functools.wraps(choose)
    def get_auth_instance(*args: Any, **kwargs: Any) -> Any:
        chosen = choose(*args, **kwargs)
        if type(chosen) is SigV4Auth:
            chosen.__class__ = FastSigV4Auth  # the same state; only the signing code differs
        return chosen

    signer.get_auth_instance = get_auth_instance
    return True
