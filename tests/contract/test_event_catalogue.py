"""docs/events.md and docs/schemas/ are generated from the models and must be current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shared.events import ALL_EVENTS
from shared.events.catalogue import check, main, write

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_catalogue_is_current():
    problems = check(ROOT)
    assert problems == [], "run: python -m shared.events.catalogue\n" + "\n".join(problems)


def test_check_command_exits_zero_when_current():
    result = subprocess.run(
        [sys.executable, "-m", "shared.events.catalogue", "--check"],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_fails_on_stale_missing_or_orphaned_files(tmp_path):
    assert main(["--root", str(tmp_path), "--check"]) == 1  # nothing generated yet
    write(tmp_path)
    assert main(["--root", str(tmp_path), "--check"]) == 0
    schema = tmp_path / "docs" / "schemas" / "PurchaseRecorded.json"
    schema.write_text(schema.read_text().replace("purchase_id", "purchase_ref"))
    (tmp_path / "docs" / "schemas" / "RemovedEvent.json").write_text("{}")
    problems = check(tmp_path)
    assert "stale: docs/schemas/PurchaseRecorded.json" in problems
    assert "no such event: docs/schemas/RemovedEvent.json" in problems
    write(tmp_path)
    assert check(tmp_path) == []


def test_one_schema_per_event_describing_the_whole_detail():
    for detail_type, model in ALL_EVENTS.items():
        schema = json.loads((ROOT / "docs" / "schemas" / f"{detail_type}.json").read_text())
        assert schema["title"] == detail_type
        assert schema["x-mallcrm"] == {
            "source": model.SOURCE,
            "detail-type": detail_type,
            "version": model.VERSION,
        }
        assert schema["required"] == ["metadata", "data"]
        assert schema["properties"]["data"] == {"$ref": f"#/$defs/{detail_type}"}


def test_the_catalogue_page_lists_every_event():
    text = (ROOT / "docs" / "events.md").read_text()
    for detail_type, model in ALL_EVENTS.items():
        assert f"[{detail_type}](#{detail_type.lower()})" in text
        assert f"`{model.SOURCE}`" in text
