"""Benchmark 1: the cold import of every handler module named in template.yaml.

Method. Each sample is a fresh interpreter (``python -c``) that times, with ``time.perf_counter``,
only ``importlib.import_module(<handler module>)``: interpreter start-up and ``site`` are outside the
measurement, so the figure is already "over a bare interpreter". As a cross-check the parent also
times each child from spawn to exit and subtracts a bare child (the same preamble, no import)
measured the same way; that column also holds interpreter teardown, so it runs a little higher.

Samples are interleaved (handler A, B, C, …, then A, B, C again) so that a burst of load on the
machine spreads over every handler instead of landing on one.

The child's environment is the function's own, from the template (parameters at their defaults),
plus what Lambda sets (``AWS_LAMBDA_FUNCTION_NAME``, region), so Powertools behaves as on AWS —
including the Tracer, which the template enables (``Tracing: Active``). Two configurations:

* ``lambda`` — the environment above, bytecode (.pyc) cached for everything: the best case;
* ``no-pyc`` — bytecode cached for the standard library only: third-party packages and the
  project are compiled from source at import, which is what the artifacts ``sam build`` makes
  today do on Lambda (the layer is installed with ``pip --no-compile`` and the service/shared copies
  exclude ``__pycache__``; /opt and /var/task are read-only, so nothing is cached between cold
  starts).

Bytecode lives under a private ``PYTHONPYCACHEPREFIX`` (warmed by one untimed import of every
handler), so results do not depend on whatever ``__pycache__`` folders the repo happens to hold,
and the bench never writes into the repo.

One ``python -X importtime`` run per handler (``lambda`` configuration) gives:

* the five heaviest packages: the "self" microseconds of every module summed per top-level
  package. Self time includes what a module runs at import (``aws_xray_sdk.core`` creates a
  botocore session and two X-Ray clients there);
* ``x-ray``: the cumulative time of the outermost ``aws_xray_sdk`` imports, i.e. everything the
  X-Ray SDK pulls in (botocore included). Powertools' ``Tracer()`` imports the SDK in its
  constructor even when tracing is disabled, so a module-level ``tracer = get_tracer(...)`` pays
  this on every handler. ``-X importtime`` inflates absolute times a little.
"""

from __future__ import annotations

import shutil
import site
import sys
import sysconfig
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    FunctionInfo,
    Table,
    child_env,
    last_json_line,
    median,
    ms,
    run_child,
    template_functions,
    verdict,
)

TARGET_MS = 250.0

_PREAMBLE = "import sys, time, importlib\n_n = len(sys.modules)\n_t = time.perf_counter()\n"
_REPORT = (
    "_e = time.perf_counter()\n"
    'print(\'{"ms": %r, "modules": %d}\' % ((_e - _t) * 1000, len(sys.modules) - _n))\n'
)


def _import_code(module: str | None) -> str:
    body = f"importlib.import_module({module!r})\n" if module else ""
    return _PREAMBLE + body + _REPORT


@dataclass
class Config:
    name: str
    runs: int
    prefix: Path


@dataclass
class Samples:
    import_ms: list[float]
    wall_ms: list[float]
    modules: int = 0


def _env(fn: FunctionInfo, config: Config) -> dict[str, str]:
    extra = {
        **fn.environment,
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{fn.logical_id}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "_HANDLER": fn.handler,
        "PYTHONPYCACHEPREFIX": str(config.prefix),
    }
    return child_env(extra)


def _warm(prefix: Path, functions: list[FunctionInfo]) -> None:
    """One untimed child importing every handler, to fill the bytecode cache."""
    code = "import importlib\n" + "".join(f"importlib.import_module({fn.module!r})\n" for fn in functions)
    env = _env(functions[0], Config("warm", 1, prefix))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run_child(code, env, timeout=300)


def _strip_non_stdlib(warm: Path, target: Path) -> None:
    """A copy of the warm cache without the bytecode of site-packages and of the repo."""
    shutil.copytree(warm, target)
    stdlib = {
        Path(sysconfig.get_paths()["stdlib"]).resolve(),
        Path(sysconfig.get_paths()["platstdlib"]).resolve(),
    }
    for source in {ROOT.resolve(), *(Path(p).resolve() for p in site.getsitepackages())}:
        if any(source.is_relative_to(s) and source != s for s in stdlib) or source in stdlib:
            continue
        mirrored = target / source.relative_to(source.anchor)
        shutil.rmtree(mirrored, ignore_errors=True)


@dataclass
class ImportProfile:
    heaviest: list[tuple[str, float]]
    xray_ms: float


def _profile(fn: FunctionInfo, prefix: Path, count: int = 5) -> ImportProfile:
    env = _env(fn, Config("importtime", 1, prefix))
    run = run_child(f"import {fn.module}", env, args=("-X", "importtime"))
    by_package: dict[str, float] = defaultdict(float)
    entries: list[tuple[int, str, float]] = []  # (depth, module, cumulative ms), children first
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cumulative_us, raw_name = line[len("import time:") :].split("|")
        if not self_us.strip().isdigit():
            continue  # the header line
        name = raw_name.rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        module = name.strip()
        by_package[module.split(".")[0]] += int(self_us) / 1000
        entries.append((depth, module, int(cumulative_us) / 1000))
    # Walk parents before children; count an aws_xray_sdk import only if no ancestor was one.
    xray = 0.0
    stack: list[tuple[int, bool]] = []
    for depth, module, cumulative in reversed(entries):
        while stack and stack[-1][0] >= depth:
            stack.pop()
        inside = bool(stack) and stack[-1][1]
        is_xray = module == "aws_xray_sdk" or module.startswith("aws_xray_sdk.")
        if is_xray and not inside:
            xray += cumulative
        stack.append((depth, inside or is_xray))
    return ImportProfile(sorted(by_package.items(), key=lambda kv: -kv[1])[:count], xray)


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def run(runs: int = 5, alt_runs: int = 3) -> list[Table]:
    every = template_functions()
    functions = [fn for fn in every if _exists(fn.module)]
    absent = sorted({fn.module for fn in every if not _exists(fn.module)})
    by_module: dict[str, list[FunctionInfo]] = defaultdict(list)
    for fn in functions:
        by_module[fn.module].append(fn)
    modules = list(by_module)
    first = {m: fns[0] for m, fns in by_module.items()}

    with tempfile.TemporaryDirectory(prefix="mallcrm-bench-pyc-") as tmp:
        warm = Path(tmp) / "warm"
        _warm(warm, functions)
        cold = Path(tmp) / "nopyc"
        _strip_non_stdlib(warm, cold)
        configs = [Config("lambda", runs, warm), Config("no-pyc", alt_runs, cold)]
        results: dict[str, dict[str, Samples]] = {}
        bare: dict[str, list[float]] = {}
        for config in configs:
            results[config.name] = {m: Samples([], []) for m in modules}
            bare[config.name] = []
            for _ in range(config.runs):
                bare_run = run_child(_import_code(None), _env(functions[0], config))
                bare[config.name].append(bare_run.wall_ms)
                for module in modules:
                    child = run_child(_import_code(module), _env(first[module], config))
                    parsed = last_json_line(child.stdout)
                    samples = results[config.name][module]
                    samples.import_ms.append(float(parsed["ms"]))
                    samples.wall_ms.append(child.wall_ms)
                    samples.modules = int(parsed["modules"])
        profiles = {m: _profile(first[m], warm) for m in modules}

    main = Table(
        "1. Cold import of each handler module (ms, median; target <= 250 ms in the 'lambda' column)",
        [
            "handler module",
            "functions",
            "lambda",
            "min-max",
            "proc-bare",
            "modules",
            "x-ray",
            "no-pyc",
            "target",
        ],
    )
    lam, nopyc = results["lambda"], results["no-pyc"]
    bare_lambda = median(bare["lambda"])
    data_rows: list[dict[str, Any]] = []
    for module in modules:
        s = lam[module]
        value = median(s.import_ms)
        main.add(
            module.removeprefix("services."),
            ",".join(fn.logical_id for fn in by_module[module]),
            ms(value),
            f"{ms(min(s.import_ms), 0)}-{ms(max(s.import_ms), 0)}",
            ms(median(s.wall_ms) - bare_lambda),
            s.modules,
            ms(profiles[module].xray_ms, 0),
            ms(median(nopyc[module].import_ms)),
            verdict(value, TARGET_MS),
        )
        data_rows.append(
            {
                "module": module,
                "functions": [fn.logical_id for fn in by_module[module]],
                "lambda_ms": value,
                "lambda_samples": s.import_ms,
                "process_minus_bare_ms": median(s.wall_ms) - bare_lambda,
                "modules": s.modules,
                "xray_importtime_ms": profiles[module].xray_ms,
                "no_pyc_ms": median(nopyc[module].import_ms),
                "heaviest": profiles[module].heaviest,
            }
        )
    missed = sum(1 for r in data_rows if r["lambda_ms"] > TARGET_MS)
    main.notes += [
        f"lambda: import only, inside a fresh interpreter, median of {runs}; Lambda-like environment "
        "(Tracer on, as Tracing: Active), bytecode cached.",
        f"proc-bare: child wall time (spawn to exit) minus a bare child ({ms(bare_lambda)} ms), same runs.",
        "x-ray: cumulative ms of the aws_xray_sdk imports (one -X importtime run), part of 'lambda'.",
        f"no-pyc: stdlib bytecode only (as the sam build artifacts run on Lambda); median of {alt_runs}.",
        f"target <= {TARGET_MS:.0f} ms: {len(data_rows) - missed} of {len(data_rows)} "
        "handler modules met it.",
        f"Python {sys.version.split()[0]} here; Lambda runs python3.12 on arm64.",
    ]
    if absent:
        main.notes.append("not measured (module not in the repo yet): " + ", ".join(absent))
    main.data = {
        "target_ms": TARGET_MS,
        "runs": runs,
        "alt_runs": alt_runs,
        "bare_ms": bare,
        "rows": data_rows,
        "absent": absent,
    }

    heavy = Table(
        "1b. Five heaviest imported packages per handler "
        "(self ms summed per top-level package, -X importtime)",
        ["handler module", "1", "2", "3", "4", "5"],
    )
    for module in modules:
        heavy.add(
            module.removeprefix("services."),
            *(f"{name} {value:.0f}" for name, value in profiles[module].heaviest),
        )
    heavy.notes.append(
        "one run each, 'lambda' configuration; -X importtime inflates absolute times a little."
    )
    return [main, heavy]
