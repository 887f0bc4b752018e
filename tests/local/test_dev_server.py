"""`python -m infra.localcloud serve` as `make dev` runs it: health early, banner, clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_serve_answers_health_early_prints_the_urls_and_stops_on_ctrl_c():
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.localcloud", "serve", "--port", "0", "--empty", "--quiet"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    stdout = process.stdout
    assert stdout is not None  # stdout=PIPE
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    try:
        url = None
        while url is None and time.monotonic() - started < 60:
            found = [re.search(r"on (http://127\.0\.0\.1:\d+)", line) for line in lines]
            url = next((m.group(1) for m in found if m), None)
            time.sleep(0.05)
        assert url, lines
        first = requests.get(url + "/_local/health", timeout=5)
        # The 10-second target is measured by make bench; here health only has to answer early.
        assert time.monotonic() - started < 60
        assert first.status_code in (200, 503)
        status = first.status_code
        while status != 200 and time.monotonic() - started < 60:
            time.sleep(0.1)
            status = requests.get(url + "/_local/health", timeout=5).status_code
        assert status == 200
        while not any("Ctrl-C stops" in line for line in lines) and time.monotonic() - started < 60:
            time.sleep(0.05)
        banner = "".join(lines)
        for path in ("/docs", "/openapi.json", "/_local/health"):
            assert url + path in banner
        assert "No demo data" in banner
        assert re.search(r"boot \d+\.\d s", banner)
        assert requests.get(url + "/_local/clock", timeout=5).json()["now"]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
        reader.join(timeout=5)
    assert code == 0, "".join(lines)
    assert "Stopping" in "".join(lines)
    assert "Traceback" not in "".join(lines)
