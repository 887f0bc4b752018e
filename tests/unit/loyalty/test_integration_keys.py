"""The integration keys are parsed once per secret string: a new secret version (a key added or
rotated) is picked up as soon as the secret cache returns it."""

from __future__ import annotations

import json

import pytest

from services.loyalty.dal import integration_keys as module


def test_a_new_secret_string_is_parsed_and_the_same_one_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    current = {"value": json.dumps({"pos": "k1"})}
    monkeypatch.setattr(module, "secret_string", lambda _id, _age: current["value"])
    monkeypatch.setattr(module, "_parsed", None)
    parsed: list[str] = []
    real_parse = module._parse

    def counting_parse(secret: str) -> object:
        parsed.append(secret)
        return real_parse(secret)

    monkeypatch.setattr(module, "_parse", counting_parse)

    first = module.integration_keys("arn:keys", 60)
    assert dict(first) == {"pos": b"k1"}
    assert module.integration_keys("arn:keys", 60) is first
    assert len(parsed) == 1

    current["value"] = json.dumps({"pos": "k2", "mall-app": "k3"})  # rotated, and a source added
    assert dict(module.integration_keys("arn:keys", 60)) == {"pos": b"k2", "mall-app": b"k3"}
    assert len(parsed) == 2
    with pytest.raises(TypeError):
        first["pos"] = b"changed"  # type: ignore[index]  # the shared memo is read-only
