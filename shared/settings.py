"""Function configuration from the environment, read when a handler runs — never at import.

Why at call time: the local cloud runs every function in one process and sets each function's
environment around its invocation; a module that read ``os.environ`` at import would keep the
first function's table name for ever. Reading a dozen variables costs microseconds.

A service extends :class:`ServiceSettings` with its own fields; every field ``foo_bar`` is read from
``FOO_BAR`` (or from the upper-cased alias, if the field declares one). Unknown variables are
ignored; missing or invalid ones fail with one error naming them all (never their values).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared import clock

__all__ = ["ServiceSettings", "SettingsError", "env_name", "load"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(RuntimeError):
    """The environment does not describe a valid configuration (a deployment bug: fail loudly)."""

    def __init__(self, model: str, missing: list[str], invalid: list[str]) -> None:
        self.missing = missing
        self.invalid = invalid
        parts = []
        if missing:
            parts.append("missing environment variables: " + ", ".join(missing))
        if invalid:
            parts.append("invalid environment variables: " + "; ".join(invalid))
        super().__init__(f"{model}: " + " | ".join(parts))


class ServiceSettings(BaseModel):
    """What every MallCRM function's environment carries (see docs/architecture.md)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str
    service_name: str
    event_bus_name: str
    table_name: str | None = None
    mall_timezone: str = "Asia/Shanghai"
    log_level: LogLevel = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("mall_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        clock.zone(value)  # raises ValueError for an unknown zone
        return value


SettingsT = TypeVar("SettingsT", bound=BaseModel)


def env_name(model_cls: type[BaseModel], field: str) -> str:
    """The environment variable a settings field is read from."""
    info = model_cls.model_fields[field]
    return (info.alias or field).upper()


def load(model_cls: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
    """Build ``model_cls`` from ``os.environ`` (or ``environ``) as it is *now*.

    Empty variables count as unset, so an optional ``TABLE_NAME=""`` becomes ``None``.
    """
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for field, name in _env_names(model_cls):
        raw = env.get(name)
        if raw is not None and raw != "":
            values[field] = raw
    # The variables are read on every call; validating them again is only needed when they
    # changed (settings are frozen, so one instance can be shared). Keyed by class and values,
    # because the local cloud switches between functions' environments in one process.
    key = (model_cls, tuple(values.items()))
    cached = _VALIDATED.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    try:
        settings = model_cls.model_validate(values, by_name=True)
    except ValidationError as exc:
        missing: list[str] = []
        invalid: list[str] = []
        for err in exc.errors(include_input=False, include_url=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            name = env_name(model_cls, field) if field in model_cls.model_fields else field
            if err["type"] == "missing":
                missing.append(name)
            else:
                invalid.append(f"{name} ({err['msg']})")
        raise SettingsError(model_cls.__name__, sorted(set(missing)), invalid) from None
    if model_cls.model_config.get("frozen"):
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.clear()
        _VALIDATED[key] = settings
    return settings


_VALIDATED: dict[tuple[type[BaseModel], tuple[tuple[str, str], ...]], BaseModel] = {}
_VALIDATED_MAX = 256
_ENV_NAMES: dict[type[BaseModel], tuple[tuple[str, str], ...]] = {}


def _env_names(model_cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    names = _ENV_NAMES.get(model_cls)
    if names is None:
        names = tuple((field, env_name(model_cls, field)) for field in model_cls.model_fields)
        _ENV_NAMES[model_cls] = names
    return names
