"""Schema snapshots per event version, and the compatibility rules they are checked against.

    PYTHONPATH=. python -m tests.contract.schema_snapshots record

records a snapshot for every (event, VERSION) that has none; it never overwrites one. A snapshot
is the JSON Schema of the event's ``detail`` when that version was first released. The contract
test fails when the current model is not backward compatible with the snapshot of its version,
from the consumer's side: every value valid under the new schema must be valid under the old.

Breaking (bump ``VERSION``, then record): a field removed; a required field made optional; a
type changed or widened (including made nullable); an enum value added. Compatible: a new
field; an optional field made required; a type narrowed; an enum value removed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.events.catalogue import detail_schema
from shared.events.contracts import ALL_EVENTS, EventData

SNAPSHOT_DIR = Path(__file__).parent / "snapshots"


def snapshot_path(model: type[EventData]) -> Path:
    return SNAPSHOT_DIR / f"{model.detail_type()}.v{model.VERSION}.json"


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = defs[str(schema["$ref"]).rsplit("/", 1)[-1]]
    return schema


def _variants(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        return [v for option in schema["anyOf"] for v in _variants(option, defs)]
    return [schema]


def _kind(schema: Mapping[str, Any]) -> str:
    if "enum" in schema or "const" in schema:
        return "enum"
    return str(schema.get("type", "any"))


def breaking_changes(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    old_defs: Mapping[str, Any],
    new_defs: Mapping[str, Any],
    path: str = "",
) -> list[str]:
    """Why ``new`` is not backward compatible with ``old`` (empty list: compatible)."""
    problems: list[str] = []
    old_variants = {_kind(v): v for v in _variants(old, old_defs)}
    new_variants = {_kind(v): v for v in _variants(new, new_defs)}
    where = path or "detail"
    for kind in sorted(set(new_variants) - set(old_variants)):
        problems.append(f"{where}: now also accepts {kind} (was {', '.join(sorted(old_variants))})")
    for kind in sorted(set(new_variants) & set(old_variants)):
        old_v, new_v = old_variants[kind], new_variants[kind]
        if kind == "enum":
            old_values = set(map(json.dumps, old_v.get("enum", [old_v.get("const")])))
            new_values = set(map(json.dumps, new_v.get("enum", [new_v.get("const")])))
            added = sorted(new_values - old_values)
            if added:
                problems.append(f"{where}: enum values added {', '.join(added)}")
        elif kind == "object":
            old_props, new_props = old_v.get("properties", {}), new_v.get("properties", {})
            old_required, new_required = set(old_v.get("required", [])), set(new_v.get("required", []))
            for name, old_prop in old_props.items():
                child = f"{path}.{name}" if path else name
                if name not in new_props:
                    problems.append(f"{child}: removed")
                    continue
                if name in old_required and name not in new_required:
                    problems.append(f"{child}: no longer required")
                problems += breaking_changes(old_prop, new_props[name], old_defs, new_defs, child)
        elif kind == "array":
            problems += breaking_changes(
                old_v.get("items", {}), new_v.get("items", {}), old_defs, new_defs, f"{path}[]"
            )
        elif kind == "string" and old_v.get("format") != new_v.get("format"):
            problems.append(f"{where}: string format {old_v.get('format')} -> {new_v.get('format')}")
    return problems


def compare(model: type[EventData]) -> list[str]:
    """Breaking changes of ``model`` against its recorded snapshot."""
    old = json.loads(snapshot_path(model).read_text(encoding="utf-8"))
    new = detail_schema(model)
    return breaking_changes(old, new, old.get("$defs", {}), new.get("$defs", {}))


def record() -> list[Path]:
    """Write snapshots that do not exist yet; never overwrite."""
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for model in ALL_EVENTS.values():
        path = snapshot_path(model)
        if not path.exists():
            path.write_text(
                json.dumps(detail_schema(model), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            written.append(path)
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        raise SystemExit("usage: python -m tests.contract.schema_snapshots record")
    for written_path in record():
        print(written_path)  # noqa: T201
