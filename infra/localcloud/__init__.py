"""The local cloud: the whole serverless system in one process, on in-process moto.

``LocalCloud.start(root)`` translates ``template.yaml`` offline, creates its resources in moto,
runs the Lambda handlers in-process and drives queues, streams, rules, schedules and state
machines from one virtual clock. See ``docs/architecture.md`` ("The local cloud").

The heavy imports (moto, samtranslator) happen only when :class:`LocalCloud` is first used, so
``import infra.localcloud.clock`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.localcloud.clock import VirtualClock
    from infra.localcloud.cloud import LocalCloud

__all__ = ["LocalCloud", "VirtualClock"]


def __getattr__(name: str) -> Any:
    if name == "LocalCloud":
        from infra.localcloud.cloud import LocalCloud

        return LocalCloud
    if name == "VirtualClock":
        from infra.localcloud.clock import VirtualClock

        return VirtualClock
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
