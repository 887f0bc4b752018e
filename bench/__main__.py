"""``python -m bench`` (``make bench``): run every benchmark and print one table per benchmark.

    python -m bench                      everything (about 2-3 minutes on 2 cores)
    python -m bench --only imports,boot  a subset: imports, boot, overhead, calls
    python -m bench --quick              fewer samples (a smoke run, not for the record)
    python -m bench --json out.json      also write every table and raw sample as JSON

Benchmarks run one after another, each in its own child interpreters, so none warms another.
The methods are described in each module's docstring and in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Table

BENCHMARKS = (
    "imports", "boot", "overhead", "calls", "scoring", "tickets", "campaigns", "loyalty", "dispatch"
)  # fmt: skip


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next(
            (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")),
            "",
        )
    except OSError:
        pass
    memory_gib = 0.0
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
        memory_gib = kib / 1024 / 1024
    except (OSError, StopIteration, ValueError):
        pass
    os_name = platform.platform()
    try:
        release = dict(
            line.rstrip("\n").split("=", 1)
            for line in Path("/etc/os-release").read_text().splitlines()
            if "=" in line
        )
        os_name = f"{release.get('PRETTY_NAME', '').strip(chr(34))} (kernel {platform.release()})"
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "memory_gib": round(memory_gib, 1),
        "python": sys.version.split()[0],
        "os": os_name,
        "load_average": os.getloadavg(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _runners(quick: bool) -> dict[str, Callable[[], list[Table]]]:
    from bench import (
        aws_calls,
        boot,
        campaigns_dispatch,
        campaigns_launch,
        cold_imports,
        loyalty_purchase,
        overhead,
        scoring,
        tickets_kb,
    )

    if quick:
        return {
            "imports": lambda: cold_imports.run(runs=2, alt_runs=1),
            "boot": lambda: boot.run(runs=1, uncached_runs=1),
            "overhead": lambda: overhead.run(n=40, jwt_n=60, stub_n=100),
            "calls": lambda: aws_calls.run(members=5),
            "scoring": lambda: scoring.run(members=scoring.QUICK_MEMBERS),
            "tickets": lambda: tickets_kb.run(segmenter_runs=2),
            "campaigns": lambda: campaigns_launch.run(members=campaigns_launch.QUICK_MEMBERS),
            "loyalty": lambda: loyalty_purchase.run(stub_n=100, sustained=40, members=10),
            "dispatch": lambda: campaigns_dispatch.run(rounds=campaigns_dispatch.QUICK_ROUNDS),
        }
    return {
        "imports": cold_imports.run,
        "boot": boot.run,
        "overhead": overhead.run,
        "calls": aws_calls.run,
        "scoring": lambda: scoring.run(members=scoring.BENCH_MEMBERS),
        "tickets": tickets_kb.run,
        "campaigns": lambda: campaigns_launch.run(members=campaigns_launch.BENCH_MEMBERS),
        "loyalty": loyalty_purchase.run,
        "dispatch": campaigns_dispatch.run,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="MallCRM benchmarks")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated: " + ", ".join(BENCHMARKS)
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run, not for the record")
    parser.add_argument("--json", type=Path, help="also write the tables and raw samples here")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    info = machine()
    load = ", ".join(f"{v:.2f}" for v in info["load_average"])
    print(
        f"MallCRM benchmarks, {info['date']}: {info['cpus']} x {info['cpu_model']}, "
        f"{info['memory_gib']} GiB, "
        f"Python {info['python']}, {info['os']}; load average {load}\n",
        flush=True,
    )
    runners = _runners(args.quick)
    report: dict[str, Any] = {"machine": info, "quick": args.quick, "benchmarks": {}}
    started = time.perf_counter()
    failures = []
    for name in chosen:
        began = time.perf_counter()
        try:
            tables = runners[name]()
            rendered = [table.render() for table in tables]
        except Exception as exc:  # one broken benchmark must not hide the others' results
            failures.append(name)
            print(f"benchmark {name!r} failed: {type(exc).__name__}: {exc}\n", flush=True)
            report["benchmarks"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        for text in rendered:
            print(text, end="\n\n", flush=True)
        report["benchmarks"][name] = {
            "seconds": time.perf_counter() - began,
            "tables": [t.as_dict() for t in tables],
        }
    elapsed = time.perf_counter() - started
    report["seconds"] = elapsed
    report["load_average_after"] = os.getloadavg()
    print(f"done in {elapsed:.0f} s; load average now {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"wrote {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
