"""On/off switches read from the environment when asked (``on``/``off``, ``true``/``false``, ``1``/``0``)."""

from __future__ import annotations

import os

__all__ = ["switch"]

_ON = ("on", "true", "1")
_OFF = ("off", "false", "0")


def switch(name: str) -> bool | None:
    """The setting of ``name``: True for on, False for off, None when unset or empty; any other
    value is refused rather than guessed (a misspelt ``of`` must not silently mean on)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"{name} must be on or off; got {value!r}")
