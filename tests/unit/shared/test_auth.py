from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import auth
from shared.errors import Forbidden, Unauthorized
from tests.unit.shared.helpers import http_event

SECRET = b"pos-main-secret-0123456789"
NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
BODY = b'{"external_id":"POS-1","amount_cents":25900}'
PATH = "/v1/integrations/purchases"


# --- principals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "groups",
    [["admin", "marketer"], "[admin marketer]", '["admin","marketer"]', "admin,marketer"],
)
def test_given_cognito_claims_then_a_staff_principal_with_roles(groups):
    event = http_event("GET", "/v1/admin/members", claims={"sub": "staff-1", "cognito:groups": groups})
    principal = auth.principal_from_event(event)
    assert principal == auth.Principal(
        kind="staff", subject="staff-1", roles=frozenset({"admin", "marketer"})
    )


def test_staff_without_groups_has_no_roles():
    principal = auth.principal_from_event(http_event("GET", "/x", claims={"sub": "staff-2"}))
    assert principal.kind == "staff"
    assert principal.roles == frozenset()


def test_given_a_lambda_authorizer_context_then_a_member():
    event = http_event("GET", "/v1/members/me", lambda_context={"subject": "wx-sub", "member_id": "01HX"})
    principal = auth.principal_from_event(event)
    assert principal == auth.Principal(kind="member", subject="wx-sub", member_id="01HX")


def test_an_unregistered_member_has_no_member_id():
    event = http_event("GET", "/v1/members/me", lambda_context={"subject": "wx-sub", "member_id": None})
    assert auth.principal_from_event(event).member_id is None


def test_no_authorizer_means_unauthorized():
    with pytest.raises(Unauthorized):
        auth.principal_from_event(http_event("GET", "/x"))


def test_require_roles():
    marketer = auth.Principal(kind="staff", subject="s", roles=frozenset({"marketer"}))
    assert auth.require_roles(marketer, "marketer", "admin") is marketer
    assert auth.require_roles(marketer) is marketer
    with pytest.raises(Forbidden) as caught:
        auth.require_roles(marketer, "loyalty_ops")
    assert caught.value.code == "missing_role"
    with pytest.raises(Forbidden):
        auth.require_roles(auth.Principal(kind="member", subject="m", member_id="1"), "admin")
    with pytest.raises(Unauthorized):
        auth.require_roles(None, "admin")


def test_require_member():
    assert auth.require_member(auth.Principal(kind="member", subject="m", member_id="01HX")) == "01HX"
    with pytest.raises(Forbidden) as caught:
        auth.require_member(auth.Principal(kind="member", subject="m"))
    assert caught.value.code == "member_not_registered"
    with pytest.raises(Forbidden):
        auth.require_member(auth.Principal(kind="staff", subject="s"))


def test_event_body_bytes_decodes_base64():
    assert auth.event_body_bytes(http_event("POST", "/x", body=BODY)) == BODY
    assert auth.event_body_bytes(http_event("POST", "/x", body=BODY.decode())) == BODY
    assert auth.event_body_bytes(http_event("GET", "/x")) == b""


# --- signing ---------------------------------------------------------------------------------


def signed_headers(
    *, timestamp: int | None = None, nonce: str = "n-0123456789abcdef", body: bytes = BODY
) -> dict[str, str]:
    ts = int(NOW.timestamp()) if timestamp is None else timestamp
    return {
        "x-mallcrm-source": "pos-main",
        "x-mallcrm-timestamp": str(ts),
        "x-mallcrm-nonce": nonce,
        "x-mallcrm-signature": auth.sign_request(SECRET, "POST", PATH, ts, nonce, body),
    }


def lookup(source: str) -> bytes | None:
    return SECRET if source == "pos-main" else None


def verify(headers, *, body=BODY, now=NOW, path=PATH, method="POST"):
    return auth.verify_signed_request(headers, method, path, body, lookup, now)


def test_signature_round_trip_returns_source_nonce_and_timestamp():
    signed = verify(signed_headers())
    assert signed == auth.SignedRequest(
        source="pos-main", nonce="n-0123456789abcdef", timestamp=int(NOW.timestamp())
    )


def test_header_names_are_case_insensitive():
    headers = {k.upper(): v for k, v in signed_headers().items()}
    assert verify(headers).source == "pos-main"


def test_signature_is_deterministic_hex_over_the_canonical_string():
    signature = auth.sign_request(SECRET, "post", PATH, 1714536000, "nonce-0123456789", b"{}")
    assert signature == auth.sign_request(SECRET, "POST", PATH, "1714536000", "nonce-0123456789", b"{}")
    assert len(signature) == 64
    assert int(signature, 16) >= 0
    canonical = auth.canonical_request("post", PATH, 1714536000, "nonce-0123456789", b"{}")
    assert canonical.split("\n")[:5] == [
        "MALLCRM-HMAC-SHA256",
        "POST",
        PATH,
        "1714536000",
        "nonce-0123456789",
    ]


@pytest.mark.parametrize("missing", list(signed_headers()))
def test_each_missing_header_is_rejected(missing):
    headers = signed_headers()
    del headers[missing]
    with pytest.raises(Unauthorized) as caught:
        verify(headers)
    assert caught.value.code == "signature_header_missing"


@pytest.mark.parametrize("skew", [301, -301, 86400])
def test_a_stale_timestamp_is_rejected(skew):
    with pytest.raises(Unauthorized) as caught:
        verify(signed_headers(timestamp=int(NOW.timestamp()) - skew))
    assert caught.value.code == "signature_timestamp_stale"


def test_a_timestamp_inside_the_window_is_accepted():
    assert verify(signed_headers(timestamp=int(NOW.timestamp()) - 299)).source == "pos-main"


@pytest.mark.parametrize("value", ["2024-05-01T04:00:00Z", "\u00b2", "\u0661\u0662"])
def test_a_non_numeric_timestamp_is_rejected(value):
    # '²' passes str.isdigit but int() refuses it: it must be a 401, not an unhandled error.
    headers = signed_headers()
    headers["x-mallcrm-timestamp"] = value
    with pytest.raises(Unauthorized) as caught:
        verify(headers)
    assert caught.value.code == "signature_timestamp_invalid"


def test_a_short_nonce_is_rejected():
    with pytest.raises(Unauthorized) as caught:
        verify(signed_headers(nonce="short"))
    assert caught.value.code == "signature_nonce_invalid"


def test_an_unknown_source_is_rejected():
    headers = signed_headers()
    headers["x-mallcrm-source"] = "pos-rogue"
    with pytest.raises(Unauthorized) as caught:
        verify(headers)
    assert caught.value.code == "signature_source_unknown"


@pytest.mark.parametrize(
    "tamper",
    [
        {"body": BODY.replace(b"25900", b"99900")},
        {"path": "/v1/integrations/refunds"},
        {"method": "PUT"},
    ],
)
def test_a_tampered_request_is_rejected(tamper):
    with pytest.raises(Unauthorized) as caught:
        verify(signed_headers(), **tamper)
    assert caught.value.code == "signature_invalid"


def test_a_signature_from_another_secret_is_rejected():
    headers = signed_headers()
    ts = int(NOW.timestamp())
    headers["x-mallcrm-signature"] = auth.sign_request(
        b"wrong", "POST", PATH, ts, headers["x-mallcrm-nonce"], BODY
    )
    with pytest.raises(Unauthorized) as caught:
        verify(headers)
    assert caught.value.code == "signature_invalid"


def test_stale_requests_do_not_look_up_the_key():
    calls = []

    def counting_lookup(source: str) -> bytes | None:
        calls.append(source)
        return SECRET

    with pytest.raises(Unauthorized):
        auth.verify_signed_request(
            signed_headers(), "POST", PATH, BODY, counting_lookup, NOW + timedelta(hours=1)
        )
    assert calls == []
