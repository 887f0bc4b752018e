"""Field-level encryption: AES-256-GCM under the member's data key, bound to member and field."""

from __future__ import annotations

import os

import pytest

from services.members.logic.vault import VaultError, VaultSession, open_field, seal_field

KEY = os.urandom(32)


def test_seal_and_open() -> None:
    blob = seal_field(KEY, "M1", "phone", "+8613812341234")
    assert b"13812341234" not in blob
    assert open_field(KEY, "M1", "phone", blob) == "+8613812341234"


def test_same_value_seals_differently_each_time() -> None:
    assert seal_field(KEY, "M1", "name", "张三") != seal_field(KEY, "M1", "name", "张三")


@pytest.mark.parametrize(("member", "field"), [("M2", "phone"), ("M1", "name")])
def test_a_blob_moved_to_another_member_or_field_does_not_open(member: str, field: str) -> None:
    blob = seal_field(KEY, "M1", "phone", "+8613812341234")
    with pytest.raises(VaultError):
        open_field(KEY, member, field, blob)


def test_tampered_blob_or_other_key_does_not_open() -> None:
    blob = bytearray(seal_field(KEY, "M1", "phone", "x"))
    blob[-1] ^= 1
    with pytest.raises(VaultError):
        open_field(KEY, "M1", "phone", bytes(blob))
    with pytest.raises(VaultError):
        open_field(os.urandom(32), "M1", "phone", seal_field(KEY, "M1", "phone", "x"))


class FakeKeys:
    def __init__(self) -> None:
        self.unwrapped: list[str] = []

    def generate(self, member_id: str) -> tuple[bytes, bytes]:
        return KEY, b"wrapped:" + member_id.encode()

    def unwrap(self, member_id: str, wrapped: bytes) -> bytes:
        assert wrapped == b"wrapped:" + member_id.encode()
        self.unwrapped.append(member_id)
        return KEY


def test_session_seals_to_ct_attributes_and_unwraps_once_per_request() -> None:
    keys = FakeKeys()
    session = VaultSession(keys)
    assert session.new_key("M1") == b"wrapped:M1"
    sealed = session.seal("M1", {"name": "张三", "phone": "+8613812341234"})
    assert set(sealed) == {"name_ct", "phone_ct"}
    assert all(isinstance(v, str) and "13812341234" not in v for v in sealed.values())

    reader = VaultSession(keys)
    reader.load("M1", b"wrapped:M1")
    reader.load("M1", b"wrapped:M1")
    assert reader.open("M1", sealed) == {"name": "张三", "phone": "+8613812341234"}
    assert keys.unwrapped == ["M1"]
    reader.forget()
    with pytest.raises(KeyError):
        reader.open("M1", sealed)
