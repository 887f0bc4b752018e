"""boto3 clients for the engine: one session, one client per service, created on first use.

Creating a client costs 50-115 ms the first time a service model is loaded, and a few ms after
that on the same session, so the engine never creates more than one per service. Retries are
off: a failure against in-process moto is a bug to see, not a blip to retry.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["Clients", "api_params", "shared_session"]


_session_lock = threading.Lock()
_session: Any = None


def shared_session() -> Any:
    """One boto3 session for the whole process.

    It is moto's own session (moto loads each service's model through it to list regions), so a
    service model is parsed once per process rather than once per cloud and once more for moto.
    """
    global _session  # noqa: PLW0603 - one per process on purpose
    if _session is None:
        with _session_lock:
            if _session is None:
                from infra.localcloud import moto_patches

                _session = moto_patches.moto_session()
    return _session


class Clients:
    """A cache of boto3 clients on the shared session, for one region."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        cached = self._clients.get(service)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._clients.get(service)
            if cached is None:
                from botocore.config import Config

                cached = shared_session().client(
                    service,
                    region_name=self.region,
                    config=Config(
                        retries={"total_max_attempts": 1},
                        account_id_endpoint_mode="disabled",
                        parameter_validation=True,
                    ),
                )
                self._clients[service] = cached
            return cached


def _coerce(shape: Any, value: Any) -> Any:  # noqa: PLR0911 - one exit per shape kind
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        return {k: _coerce(shape.members[k], v) for k, v in value.items() if k in shape.members}
    if kind == "list":
        items = value if isinstance(value, list) else [value]
        return [_coerce(shape.member, v) for v in items]
    if kind == "map":
        if not isinstance(value, dict):
            return value
        return {k: _coerce(shape.value, v) for k, v in value.items()}
    if kind in ("integer", "long") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind in ("double", "float") and isinstance(value, (str, int)) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    return value


def api_params(client: Any, operation: str, values: dict[str, Any]) -> dict[str, Any]:
    """Keep the members of ``values`` that ``operation`` accepts, coerced to the API's types.

    CloudFormation properties mostly share their names with the API's parameters; this drops the
    ones that do not exist there (tags, CloudFormation-only switches) and turns ``"30"`` into 30
    where the API wants a number.
    """
    shape = client.meta.service_model.operation_model(operation).input_shape
    coerced = _coerce(shape, values)
    return coerced if isinstance(coerced, dict) else {}
