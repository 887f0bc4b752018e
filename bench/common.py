"""What every benchmark shares: statistics, tables, the template's functions, child interpreters.

Nothing here imports the project's services or the local cloud: each benchmark imports what it
measures itself, as late as it can, so one benchmark's imports never warm another's.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
PYTHON = sys.executable
REGION = "us-east-1"
ACCOUNT = "123456789012"

# Environment variables a child interpreter inherits from ours; everything else is set explicitly,
# so a developer's shell (AWS credentials, POWERTOOLS_* switches, PYTHON* flags) cannot skew a run.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


# -- statistics -------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p50 of [1, 2, 3, 4] is 2): no interpolation between samples."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def verdict(value: float, target: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "met" if value <= target else "MISSED"


# -- tables -----------------------------------------------------------------------------------------


@dataclass
class Table:
    """One benchmark's result: printed as a text table, kept as data for --json."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.headers)} columns")
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: Sequence[str]) -> str:
            parts = []
            for i, cell in enumerate(cells):
                # Text left, numbers right.
                numeric = bool(re.fullmatch(r"[-+]?[\d.,]+( ?[a-z%]+)?|-|n/a", cell))
                parts.append(cell.rjust(widths[i]) if numeric and i > 0 else cell.ljust(widths[i]))
            return "  ".join(parts).rstrip()

        out = [self.title, "=" * len(self.title), line(self.headers), line(["-" * w for w in widths])]
        out += [line(row) for row in self.rows]
        out += [f"  {note}" for note in self.notes]
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "headers": self.headers,
            "rows": self.rows,
            "notes": self.notes,
            **self.data,
        }


# -- the template -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionInfo:
    logical_id: str
    handler: str
    environment: dict[str, str]

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The SAM template as plain data; CloudFormation tags (!Ref, !Sub, …) become their long forms."""
    from samtranslator.yaml_helper import yaml_parse

    doc = yaml_parse(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{path} is not a template")
    return doc


class _Resolver:
    """Just enough intrinsic-function resolution to give a handler a plausible environment.

    Parameters take their defaults, conditions are evaluated for Fn::Equals / Fn::Not / Fn::And /
    Fn::Or on parameters, and anything naming a resource becomes a placeholder: handlers read
    table names and ARNs only when they run, never at import.
    """

    def __init__(self, template: Mapping[str, Any]) -> None:
        self.params = {
            name: str(spec.get("Default", "")) for name, spec in (template.get("Parameters") or {}).items()
        }
        self.params.update(
            {
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT,
                "AWS::Partition": "aws",
                "AWS::StackName": "bench",
            }
        )
        self.conditions: Mapping[str, Any] = template.get("Conditions") or {}

    def condition(self, value: Any) -> bool:  # noqa: PLR0911 - one exit per function
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), *_ = value.items()
            if key == "Condition":
                return self.condition(self.conditions.get(arg))
            if key == "Fn::Equals":
                return bool(self.value(arg[0]) == self.value(arg[1]))
            if key == "Fn::Not":
                return not self.condition(arg[0])
            if key == "Fn::And":
                return all(self.condition(a) for a in arg)
            if key == "Fn::Or":
                return any(self.condition(a) for a in arg)
        if isinstance(value, str) and value in self.conditions:
            return self.condition(self.conditions[value])
        return False

    def value(self, value: Any) -> Any:  # noqa: PLR0911 - one exit per function
        if not isinstance(value, dict) or len(value) != 1:
            return value
        (key, arg), *_ = value.items()
        if key == "Ref":
            return self.params.get(arg, f"bench-{arg}")
        if key == "Fn::Sub":
            text = arg[0] if isinstance(arg, list) else arg
            local = {k: self.value(v) for k, v in (arg[1] if isinstance(arg, list) else {}).items()}
            return re.sub(
                r"\$\{([^}!]+)\}",
                lambda m: str(local.get(m.group(1), self.params.get(m.group(1), f"bench-{m.group(1)}"))),
                str(text),
            )
        if key == "Fn::If":
            return self.value(arg[1] if self.condition(self.conditions.get(arg[0])) else arg[2])
        if key == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) else str(arg).split(".")[0]
            return f"arn:aws:bench:{REGION}:{ACCOUNT}:{target}"
        if key == "Fn::Join":
            return str(self.value(arg[0])).join(str(self.value(v)) for v in arg[1])
        return f"bench-{key}"


def template_functions(path: Path = TEMPLATE) -> list[FunctionInfo]:
    """Every AWS::Serverless::Function with a Handler, in template order, with its environment."""
    template = load_template(path)
    resolver = _Resolver(template)
    globals_fn = (template.get("Globals") or {}).get("Function") or {}
    global_env = (globals_fn.get("Environment") or {}).get("Variables") or {}
    found = []
    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        handler = props.get("Handler", globals_fn.get("Handler"))
        if not isinstance(handler, str) or "." not in handler:
            continue
        variables = {**global_env, **((props.get("Environment") or {}).get("Variables") or {})}
        env = {}
        for name, raw in variables.items():
            resolved = resolver.value(raw)
            env[name] = str(resolved).lower() if isinstance(resolved, bool) else str(resolved)
        found.append(FunctionInfo(logical_id, handler, env))
    return found


# -- child interpreters -----------------------------------------------------------------------------


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a child interpreter: the repo on the path, fake credentials, no
    bytecode written into the repo."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class ChildRun:
    stdout: str
    stderr: str
    wall_ms: float


def run_child(
    code: str, env: Mapping[str, str], *, args: Iterable[str] = (), timeout: float = 120
) -> ChildRun:
    """Run ``python [args] -c code`` and time it from the parent (spawn to exit)."""
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, *args, "-c", code],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall_ms = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"child interpreter failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return ChildRun(done.stdout, done.stderr, wall_ms)


def last_json_line(text: str) -> Any:
    import json

    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in child output:\n{text[-2000:]}")
