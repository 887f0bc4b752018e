"""cfn-lint on template.yaml: zero errors and zero warnings.

cfn-lint runs the SAM transform itself, offline. Informational checks (I*) are left out on
purpose: I3011 asks for an explicit DeletionPolicy on every log group and queue, which is a
retention decision the template makes per resource (tables and the key are Retain), not a defect.
"""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from tests.infra.template_loader import TEMPLATE_PATH


def test_cfn_lint_finds_nothing():
    matches = lint_file(Path(TEMPLATE_PATH), ManualArgs(regions=["us-east-1"]))
    findings = [
        f"{m.rule.id} {Path(m.filename).name}:{m.linenumber}: {m.message}"
        for m in matches
        if not m.rule.id.startswith("I")
    ]
    assert not findings, "\n  " + "\n  ".join(findings)
