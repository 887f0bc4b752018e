"""Handlers import shared at cold start: it must stay light and read nothing at import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MODULES = [
    "shared",
    "shared.clock",
    "shared.ids",
    "shared.settings",
    "shared.aws",
    "shared.errors",
    "shared.api",
    "shared.auth",
    "shared.events",
    "shared.outbox",
    "shared.consumer",
    "shared.dynamo",
    "shared.observability",
]


def _imported_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    # An empty environment: any import-time read of configuration would fail or misbehave here.
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout))


def test_every_module_imports_with_an_empty_environment_and_without_boto3_or_powertools():
    loaded = _imported_after("import " + ", ".join(MODULES))
    assert "boto3" not in loaded
    assert "botocore" not in loaded
    assert "aws_lambda_powertools" not in loaded
    assert "moto" not in loaded


def test_the_package_itself_imports_nothing_heavy():
    loaded = _imported_after("import shared")
    assert "pydantic" not in loaded
