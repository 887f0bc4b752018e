"""Every third-party module that shipped code imports is in the Lambda layer's requirements.

Regression: the PII vault imported ``cryptography``, which the development environment had (through
PyJWT[crypto]) and the layer did not — every test passed and the vault would have failed on Lambda.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [ROOT / "shared", ROOT / "services", ROOT / "infra" / "apidocs"]
RUNTIME = ROOT / "requirements" / "runtime.txt"

# Imported only on a development target, behind a branch that Lambda never takes.
DEV_ONLY = {
    "moto": "shared.aws patches clients into moto only when MALLCRM_AWS_TARGET=local",
    "localstack_client": "shared.aws uses it only when MALLCRM_AWS_TARGET=localstack",
}


def _requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    return re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: set[str]) -> set[str]:
    """The distributions the layer installs: the pins and everything they require (with extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement and 'extra == "tracer"' not in requirement:
                continue
            dep = _requirement_name(requirement)
            if dep:
                todo.append(dep)
    return seen


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_third_party_import_in_shipped_code_is_in_the_layer():
    pinned = {n for n in map(_requirement_name, RUNTIME.read_text().splitlines()) if n}
    installed_by_layer = _closure(pinned)
    distributions = metadata.packages_distributions()
    missing: dict[str, set[str]] = {}
    for folder in SHIPPED:
        for path in folder.rglob("*.py"):
            for module in _top_level_imports(path):
                if module in sys.stdlib_module_names or module in {
                    "shared",
                    "services",
                    "infra",
                    "__future__",
                }:
                    continue
                if module in DEV_ONLY:
                    continue
                owners = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
                if not owners & installed_by_layer:
                    missing.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    assert not missing, f"imported by shipped code but not installed by the layer: {missing}"
