"""Benchmark 2: local cloud boot time on the real template.yaml.

Method. Each sample is a fresh interpreter that times, with ``time.perf_counter``:

* ``import``: ``from infra.localcloud.cloud import LocalCloud`` (the engine's own modules; moto and
  samtranslator are imported by ``start`` when needed);
* ``start``: ``LocalCloud.start(root)`` — translate the template, start moto, install the patches,
  create every resource, register the functions and wire pollers and schedules. This is the
  figure held against the target. The engine's own phase split (``cloud.boot_phases``) is shown.
* ``stop``: ``cloud.stop()``.

Two situations:

* ``cached translation``: ``LocalCloud.start`` as ``make dev`` calls it, with the engine's
  translation cache (``.localcloud/cache``, gitignored) already warm: every boot after the first
  on an unchanged template. One untimed boot warms it first.
* ``no cache``: the same boot with the cache turned off (``LocalCloud(root, cache_dir=False)`` and
  its boot step): the first boot after a template change, which imports samtranslator and runs
  the SAM transform.

Handlers are not imported at boot (the runner imports each one on its first invocation), so a
handler's cold import (benchmark 1) is paid on the first request to it, not here.
"""

from __future__ import annotations

from bench.common import ROOT, Table, child_env, last_json_line, median, ms, run_child, verdict

TARGET_S = 5.0

_CHILD = """
import json, time
t0 = time.perf_counter()
from infra.localcloud.cloud import LocalCloud
t1 = time.perf_counter()
c1 = time.process_time()
if {cached}:
    cloud = LocalCloud.start({root!r})
else:
    cloud = LocalCloud({root!r}, cache_dir=False)
    cloud._boot()
t2 = time.perf_counter()
c2 = time.process_time()
phases = dict(getattr(cloud, "boot_phases", {{}}))
functions = len(cloud.functions)
resources = len(getattr(cloud, "provisioned", {{}}))
cloud.stop()
t3 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "start": t2 - t1, "start_cpu": c2 - c1, "stop": t3 - t2,
                  "phases": phases, "functions": functions, "resources": resources}}))
"""


def _sample(cached: bool) -> dict[str, object]:
    code = _CHILD.format(cached=cached, root=str(ROOT))
    child = run_child(code, child_env(), timeout=300)
    parsed: dict[str, object] = last_json_line(child.stdout)
    parsed["wall"] = child.wall_ms / 1000
    return parsed


def run(runs: int = 3, uncached_runs: int = 1) -> list[Table]:
    _sample(cached=True)  # warms the translation cache (and the OS file cache)
    samples = {"cached translation": [_sample(True) for _ in range(runs)]}
    samples["no cache"] = [_sample(False) for _ in range(uncached_runs)]

    phase_names: list[str] = []
    for group in samples.values():
        for s in group:
            for name in s["phases"]:  # type: ignore[attr-defined]
                if name not in phase_names:
                    phase_names.append(name)
    table = Table(
        f"2. Local cloud boot on template.yaml (seconds, median; target start <= {TARGET_S:.0f} s)",
        ["situation", "runs", "start", "min-max", "cpu", *phase_names, "import", "stop", "process", "target"],
    )
    rows = []
    for situation, group in samples.items():
        start = [float(s["start"]) for s in group]  # type: ignore[arg-type]
        phases = [median([float(s["phases"].get(p, float("nan"))) for s in group]) for p in phase_names]  # type: ignore[attr-defined]
        value = median(start)
        table.add(
            situation,
            len(group),
            ms(value, 2),
            f"{min(start):.2f}-{max(start):.2f}",
            ms(median([float(s["start_cpu"]) for s in group]), 2),  # type: ignore[arg-type]
            *(ms(p, 2) for p in phases),
            ms(median([float(s["import"]) for s in group]), 2),  # type: ignore[arg-type]
            ms(median([float(s["stop"]) for s in group]), 3),  # type: ignore[arg-type]
            ms(median([float(s["wall"]) for s in group]), 2),  # type: ignore[arg-type]
            verdict(value, TARGET_S),
        )
        rows.append({"situation": situation, "start_s": value, "samples": group})
    first = samples["cached translation"][0]
    table.notes += [
        "start = LocalCloud.start(root) inside a fresh interpreter; import = importing "
        "infra.localcloud.cloud before it; process = spawn to exit as seen by the parent; cpu = CPU "
        "time of start (process_time: all threads), well below start when the machine was busy.",
        f"{first['resources']} resources, {first['functions']} functions; phase columns are the engine's "
        "own cloud.boot_phases.",
    ]
    table.data = {"target_s": TARGET_S, "rows": rows}
    return [table]
