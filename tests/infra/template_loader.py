"""The template, as the template tests see it: the SAM source and the offline-translated CloudFormation.

Translation is the local cloud's own (`infra.localcloud.template.load_template`), so the tests check
exactly what the local cloud runs. Helpers here read references (Ref / GetAtt / Sub) and the
template's service sections (the `# ====` banners), and expand IAM roles into statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from infra.localcloud.template import TranslatedTemplate, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

SERVICES = ("members", "loyalty", "campaigns", "tickets")
SERVICE_PREFIXES = {svc.capitalize(): svc for svc in SERVICES}


@cache
def translated(path: Path = TEMPLATE_PATH) -> TranslatedTemplate:
    return load_template(path)


def sam_resources(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    resources: dict[str, Any] = translated(path).sam.get("Resources", {})
    return resources


def cfn_resources(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return translated(path).resources


def of_type(resources: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") in types}


def props(resource: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = resource.get("Properties") or {}
    return value


_SUB_VAR = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def target_of(value: Any) -> str | None:
    """The logical id a single reference points at: Ref X, GetAtt X.Attr, or Sub "${X.Arn}"."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Ref" and isinstance(inner, str):
            return inner
        if key == "Fn::GetAtt":
            if isinstance(inner, list) and inner:
                return str(inner[0])
            if isinstance(inner, str):
                return inner.split(".", 1)[0]
        if key == "Fn::Sub" and isinstance(inner, str):
            found = _SUB_VAR.fullmatch(inner.strip())
            if found:
                return found.group(1)
    return None


def references(value: Any) -> set[str]:
    """Every logical id or parameter referenced anywhere inside a value."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                name = inner[0] if isinstance(inner, list) and inner else str(inner).split(".", 1)[0]
                found.add(str(name))
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                if isinstance(text, str):
                    found.update(m.group(1) for m in _SUB_VAR.finditer(text))
                if isinstance(inner, list) and len(inner) > 1:
                    found.update(references(inner[1]))
            else:
                found.update(references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(references(inner))
    return found


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- sections: the banners that group the template by service -----------------------------------

_BANNER = re.compile(r"^\s*#\s*={5,}\s*$")
_TITLE = re.compile(r"^\s*#\s*([A-Za-z][A-Za-z ]*?)\s*:")
_RESOURCE_KEY = re.compile(r"^  ([A-Za-z0-9]+):\s*(#.*)?$")


@cache
def sections(path: Path = TEMPLATE_PATH) -> dict[str, str]:
    """Logical id -> the section it is declared under (lower case, e.g. "loyalty", "platform")."""
    lines = path.read_text(encoding="utf-8").splitlines()
    result: dict[str, str] = {}
    in_resources = False
    current = ""
    for index, line in enumerate(lines):
        if re.match(r"^\S", line) and not line.startswith("#"):
            in_resources = line.startswith("Resources:")
            continue
        if not in_resources:
            continue
        if _BANNER.match(line) and index + 1 < len(lines):
            title = _TITLE.match(lines[index + 1])
            if title:
                current = title.group(1).strip().lower()
            continue
        key = _RESOURCE_KEY.match(line)
        if key:
            result[key.group(1)] = current
    return result


def service_of(logical_id: str) -> str | None:
    """The service a logical id is named after (`LoyaltyApiFunction` -> "loyalty")."""
    for prefix, svc in SERVICE_PREFIXES.items():
        if logical_id.startswith(prefix):
            return svc
    return None


# --- IAM: what a function or state machine may do ----------------------------------------------


@dataclass(frozen=True)
class Statement:
    role: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    condition: dict[str, Any]

    @classmethod
    def parse(cls, role: str, raw: dict[str, Any]) -> Statement:
        return cls(
            role=role,
            effect=str(raw.get("Effect", "Allow")),
            actions=tuple(str(a) for a in as_list(raw.get("Action"))),
            resources=tuple(as_list(raw.get("Resource"))),
            condition=dict(raw.get("Condition") or {}),
        )


def role_of(resources: dict[str, Any], logical_id: str) -> str | None:
    """The IAM role (logical id) a translated function or state machine runs as."""
    resource = resources.get(logical_id) or {}
    return target_of(props(resource).get("Role") or props(resource).get("RoleArn"))


def role_statements(resources: dict[str, Any], role: str) -> Iterator[Statement]:
    """Inline policies of the role and every AWS::IAM::Policy / ManagedPolicy attached to it."""
    role_props = props(resources.get(role) or {})
    documents = [p.get("PolicyDocument") or {} for p in role_props.get("Policies") or []]
    for resource in of_type(resources, "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy").values():
        attached = {target_of(r) for r in as_list(props(resource).get("Roles"))}
        if role in attached:
            documents.append(props(resource).get("PolicyDocument") or {})
    for document in documents:
        for raw in as_list(document.get("Statement")):
            if isinstance(raw, dict):
                yield Statement.parse(role, raw)


def managed_policy_arns(resources: dict[str, Any], role: str) -> list[str]:
    return [
        json.dumps(a) if not isinstance(a, str) else a
        for a in props(resources.get(role) or {}).get("ManagedPolicyArns") or []
    ]


def action_allows(pattern: str, action: str) -> bool:
    """Does an IAM action pattern (wildcards allowed, case-insensitive) cover the action?"""
    regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, action.lower()) is not None
