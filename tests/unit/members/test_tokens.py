"""Member tokens (HS256 JWT written by hand) and member codes: signing, verification, tampering."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.members.logic.tokens import derive_key, issue_code, issue_token, verify_code, verify_token
from shared.errors import Unauthorized, Unprocessable

KEY = derive_key(b"master-secret", "member-token")
CODE_KEY = derive_key(b"master-secret", "member-code")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MEMBER = "01JD0000000000000000000AAA"


def _token(**kw: object) -> str:
    args: dict[str, Any] = {
        "subject": "sub-hash",
        "member_id": MEMBER,
        "unionid_hash": None,
        "now": NOW,
        "ttl_seconds": 3600,
    }
    args.update(kw)
    token, _ = issue_token(KEY, **args)
    return token


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class TestMemberToken:
    def test_round_trip_carries_subject_and_member_id(self) -> None:
        claims = verify_token(KEY, _token(unionid_hash="u-hash"), now=NOW + timedelta(minutes=5))
        assert (claims.subject, claims.member_id, claims.unionid_hash) == ("sub-hash", MEMBER, "u-hash")
        assert claims.expires_at - claims.issued_at == 3600

    def test_unregistered_token_has_no_member_id(self) -> None:
        assert verify_token(KEY, _token(member_id=None), now=NOW).member_id is None

    def test_bearer_prefix_is_accepted(self) -> None:
        assert verify_token(KEY, "Bearer " + _token(), now=NOW).subject == "sub-hash"

    def test_expired_token_is_refused_as_expired(self) -> None:
        with pytest.raises(Unauthorized) as err:
            verify_token(KEY, _token(), now=NOW + timedelta(hours=1, seconds=31))
        assert err.value.code == "token_expired"

    def test_other_key_is_refused(self) -> None:
        with pytest.raises(Unauthorized) as err:
            verify_token(derive_key(b"other", "member-token"), _token(), now=NOW)
        assert err.value.code == "token_invalid"

    def test_code_key_cannot_verify_a_token(self) -> None:
        with pytest.raises(Unauthorized):
            verify_token(CODE_KEY, _token(), now=NOW)

    def test_changed_payload_is_refused(self) -> None:
        header, _, signature = _token().split(".")
        forged = _b64(
            {
                "iss": "mallcrm/members",
                "aud": "mallcrm/member-api",
                "sub": "x",
                "mid": "OTHER",
                "iat": int(NOW.timestamp()),
                "exp": int(NOW.timestamp()) + 60,
            }
        )
        with pytest.raises(Unauthorized):
            verify_token(KEY, f"{header}.{forged}.{signature}", now=NOW)

    def test_alg_none_is_refused(self) -> None:
        _, payload, _ = _token().split(".")
        with pytest.raises(Unauthorized):
            verify_token(KEY, f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.", now=NOW)

    @pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "x" * 5000, "!!!.@@@.###"])
    def test_garbage_is_refused(self, garbage: str) -> None:
        with pytest.raises(Unauthorized):
            verify_token(KEY, garbage, now=NOW)


class TestMemberCode:
    def test_round_trip_within_60_seconds(self) -> None:
        code, expires = issue_code(CODE_KEY, MEMBER, now=NOW)
        assert expires == NOW + timedelta(seconds=60)
        assert verify_code(CODE_KEY, code, now=NOW + timedelta(seconds=59)) == MEMBER

    def test_code_is_compact_for_a_qr_or_barcode(self) -> None:
        code, _ = issue_code(CODE_KEY, MEMBER, now=NOW)
        assert len(code) <= 50
        assert code.isascii()

    def test_codes_rotate(self) -> None:
        assert issue_code(CODE_KEY, MEMBER, now=NOW)[0] != issue_code(CODE_KEY, MEMBER, now=NOW)[0]

    def test_expired_code_is_rejected(self) -> None:
        code, _ = issue_code(CODE_KEY, MEMBER, now=NOW)
        with pytest.raises(Unprocessable) as err:
            verify_code(CODE_KEY, code, now=NOW + timedelta(seconds=66))
        assert err.value.code == "code_expired"

    def test_tampered_code_is_rejected(self) -> None:
        code, _ = issue_code(CODE_KEY, MEMBER, now=NOW)
        flipped = code[:10] + ("A" if code[10] != "A" else "B") + code[11:]
        with pytest.raises(Unprocessable) as err:
            verify_code(CODE_KEY, flipped, now=NOW)
        assert err.value.code == "code_invalid"

    def test_extended_expiry_breaks_the_mac(self) -> None:
        code, _ = issue_code(CODE_KEY, MEMBER, now=NOW)
        raw = bytearray(base64.urlsafe_b64decode(code[4:] + "=" * (-len(code[4:]) % 4)))
        raw[19] = (raw[19] + 100) % 256
        forged = "MC1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
        with pytest.raises(Unprocessable):
            verify_code(CODE_KEY, forged, now=NOW)

    def test_token_key_cannot_verify_a_code(self) -> None:
        code, _ = issue_code(CODE_KEY, MEMBER, now=NOW)
        with pytest.raises(Unprocessable):
            verify_code(KEY, code, now=NOW)

    @pytest.mark.parametrize("garbage", ["", "MC1.", "MC1.!!!!", "hello", "MC1." + "A" * 60])
    def test_garbage_is_rejected(self, garbage: str) -> None:
        with pytest.raises(Unprocessable):
            verify_code(CODE_KEY, garbage, now=NOW)


class TestRotationAndRevocation:
    """Key ids pick the current or previous key; revocation by issue time."""

    def test_a_token_names_its_key_and_the_ring_verifies_with_the_named_one(self) -> None:
        import json as _json

        from services.members.logic.tokens import _unb64, key_id

        previous = derive_key(b"old-master", "member-token")
        token = _token()
        header = _json.loads(_unb64(token.split(".")[0]))
        assert header["kid"] == key_id(KEY)
        # after a rotation KEY is the previous key: still accepted, wherever it is in the ring
        assert verify_token([derive_key(b"new", "member-token"), KEY], token, now=NOW).subject == "sub-hash"
        with pytest.raises(Unauthorized):
            verify_token([derive_key(b"new", "member-token"), previous], token, now=NOW)

    def test_a_token_without_kid_is_tried_against_the_current_key_only(self) -> None:
        import base64 as _b64
        import hashlib as _hashlib
        import hmac as _hmac
        import json as _json

        def enc(data: dict[str, Any]) -> str:
            return _b64.urlsafe_b64encode(_json.dumps(data).encode()).rstrip(b"=").decode()

        payload: dict[str, Any] = {
            "iss": "mallcrm/members",
            "aud": "mallcrm/member-api",
            "sub": "s",
            "iat": 1795000000,
        }
        payload["exp"] = payload["iat"] + 3600
        signing = enc({"alg": "HS256", "typ": "JWT"}) + "." + enc(payload)
        sig = _b64.urlsafe_b64encode(_hmac.new(KEY, signing.encode(), _hashlib.sha256).digest()).rstrip(b"=")
        legacy = f"{signing}.{sig.decode()}"
        at = datetime.fromtimestamp(1795000000 + 60, tz=NOW.tzinfo)
        assert verify_token([KEY], legacy, now=at).subject == "s"
        with pytest.raises(Unauthorized):
            verify_token([derive_key(b"new", "member-token"), KEY], legacy, now=at)

    def test_revocation_voids_tokens_issued_up_to_that_second(self) -> None:
        from services.members.logic.tokens import is_revoked

        assert is_revoked(100, 100) and is_revoked(99, 100)
        assert not is_revoked(101, 100)
        assert not is_revoked(100, None)


def test_a_member_code_of_the_previous_key_still_scans_after_a_rotation() -> None:
    new = derive_key(b"new-master", "member-code")
    code, _ = issue_code(CODE_KEY, MEMBER, now=NOW)
    assert verify_code([new, CODE_KEY], code, now=NOW) == MEMBER
    with pytest.raises(Unprocessable):
        verify_code([new], code, now=NOW)
