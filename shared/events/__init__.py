"""MallCRM events: envelope, contracts (one model per event), publisher, catalogue.

``from shared.events import PurchaseRecorded, publish, consume`` works, lazily: the package imports
nothing until a name is used, and an event class loads only its producing service's models
(:mod:`shared.events.contracts`); the publisher imports boto3 only when it publishes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from shared.events.contracts import *  # noqa: F403
    from shared.events.envelope import Envelope as Envelope
    from shared.events.envelope import EventMetadata as EventMetadata
    from shared.events.envelope import UtcDateTime as UtcDateTime
    from shared.events.publisher import FailedEntry as FailedEntry
    from shared.events.publisher import PublishError as PublishError
    from shared.events.publisher import publish as publish

_ELSEWHERE = {
    "Envelope": "envelope",
    "EventMetadata": "envelope",
    "UtcDateTime": "envelope",
    "FailedEntry": "publisher",
    "PublishError": "publisher",
    "publish": "publisher",
}


def __getattr__(name: str) -> Any:
    # PEP 562: importing a submodule (shared.events.outbox's users import shared.events.envelope)
    # must not build every event model of every service.
    if name.startswith("__"):
        raise AttributeError(name)
    module = importlib.import_module(f"shared.events.{_ELSEWHERE.get(name, 'contracts')}")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
