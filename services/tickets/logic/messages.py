"""Texts the service writes to members and agents, from ``data/messages.json`` (Chinese with its
own punctuation, kept out of the code so translators edit data, not Python)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["say"]

MESSAGES_PATH = Path(__file__).resolve().parent.parent / "data" / "messages.json"


@lru_cache(maxsize=1)
def _messages() -> dict[str, str]:
    raw: dict[str, str] = json.loads(MESSAGES_PATH.read_text(encoding="utf-8"))
    return raw


def say(key: str, **values: Any) -> str:
    """The text ``key`` with ``values`` filled in."""
    return _messages()[key].format(**values)
