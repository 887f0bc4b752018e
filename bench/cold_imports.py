"""Benchmark 1: the cold import of every handler module named in template.yaml.

Method. Each sample is a fresh interpreter (``python -c``) that times, with ``time.perf_counter``,
only ``importlib.import_module(<handler module>)``: interpreter start-up and ``site`` are outside the
measurement, so the figure is already "over a bare interpreter". As a cross-check the parent also
times each child from spawn to exit and subtracts a bare child (the same preamble, no import)
measured the same way. Children leave with ``os._exit`` right after reporting: interpreter
teardown is not part of a cold start and would only make the benchmark slower.

Samples are interleaved (handler A, B, C, …, then A, B, C again) so that a burst of load on the
machine spreads over every handler instead of landing on one.

The child's environment is the function's own, from the template (parameters at their defaults),
plus what Lambda sets (``AWS_LAMBDA_FUNCTION_NAME``, ``LAMBDA_TASK_ROOT``, region), so Powertools
behaves as on AWS — including the Tracer, which the template enables (``Tracing: Active``) and which
then patches botocore and the HTTP libraries at import. Two configurations:

* ``lambda`` — the environment above, bytecode (.pyc) cached for everything: the best case;
* ``no-pyc`` — bytecode cached for the standard library only: third-party packages and the
  project are compiled from source at import, which is what the artifacts ``sam build`` makes
  today do on Lambda (the layer is installed with ``pip --no-compile`` and the service/shared copies
  exclude ``__pycache__``; /opt and /var/task are read-only, so nothing is cached between cold
  starts).

Bytecode lives under a private ``PYTHONPYCACHEPREFIX`` (warmed by one untimed run of everything
measured), so results do not depend on whatever ``__pycache__`` folders the repo happens to hold,
and the bench never writes into the repo.

1b. One ``python -X importtime`` run per handler (``lambda`` configuration): the "self"
microseconds of every module summed per top-level package, five heaviest. Self time includes what
a module runs at import (``aws_xray_sdk.core`` creates a botocore session and two X-Ray clients
there). ``-X importtime`` inflates absolute times a little.

1c. Building blocks, each alone in a fresh interpreter (``lambda`` configuration): what one
module-level line of a handler costs — the project's tracer (``get_tracer``, which builds the
Powertools Tracer on the first invocation), for comparison a Powertools ``Tracer()`` built at import
with its default auto-patching (it imports the X-Ray SDK and every library the SDK supports,
botocore included), botocore alone, ``Logger`` + ``Metrics``, the API router (``shared.web``) and,
for comparison, the Powertools resolver it replaced, pydantic, and the first ``shared.aws`` client
(not paid at import: clients are created on first use, i.e. in the first invocation, which is also
when botocore gets patched).
"""

from __future__ import annotations

import shutil
import site
import sys
import sysconfig
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
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

_PREAMBLE = (
    "import sys, time, importlib\n_n = len(sys.modules)\n_c = time.process_time()\n_t = time.perf_counter()\n"
)
_REPORT = (
    "_e = time.perf_counter()\n_d = time.process_time()\n"
    'print(\'{"ms": %r, "cpu_ms": %r, "modules": %d}\'\n'
    "      % ((_e - _t) * 1000, (_d - _c) * 1000, len(sys.modules) - _n))\n"
    # Skip interpreter teardown (~0.2 s for 600 modules): it is not part of a cold start.
    "sys.stdout.flush()\nimport os\nos._exit(0)\n"
)

# What one module-level line of a handler costs, alone in a fresh interpreter.
BLOCKS: dict[str, str] = {
    "shared.observability.get_tracer() (the project's lazy tracer)": (
        "from shared.observability import get_tracer\nget_tracer('bench')\n"
    ),
    "Powertools Tracer() with auto_patch (patches every library the SDK supports)": (
        "from aws_lambda_powertools import Tracer\nTracer(service='bench')\n"
    ),
    "import botocore.session, botocore.client (needed by the first AWS call anyway)": (
        "import botocore.session\nimport botocore.client\n"
    ),
    "Powertools Logger() + Metrics()": (
        "from aws_lambda_powertools import Logger, Metrics\n"
        "Logger(service='bench')\nMetrics(namespace='bench', service='bench')\n"
    ),
    "shared.api.make_resolver() (shared.web router, the API functions' since 2026-11-23)": (
        "from shared.api import make_resolver\nmake_resolver()\n"
    ),
    "Powertools APIGatewayHttpResolver(enable_validation=True) (the API router before)": (
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        "APIGatewayHttpResolver(enable_validation=True)\n"
    ),
    "import pydantic": "import pydantic\n",
    "first shared.aws.client('dynamodb'), paid in the first invocation": (
        "from shared import aws\naws.client('dynamodb')\n"
    ),
}


def _timed_code(body: str) -> str:
    return _PREAMBLE + body + _REPORT


def _import_code(module: str | None) -> str:
    return _timed_code(f"importlib.import_module({module!r})\n" if module else "")


@dataclass
class Config:
    name: str
    runs: int
    prefix: Path


@dataclass
class Samples:
    import_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    modules: int = 0


@dataclass
class Measured:
    results: dict[str, dict[str, Samples]] = field(default_factory=dict)
    bare: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    heaviest: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    blocks: dict[str, Samples] = field(default_factory=dict)


def _env(fn: FunctionInfo, config: Config) -> dict[str, str]:
    extra = {
        **fn.environment,
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{fn.logical_id}",
        "LAMBDA_TASK_ROOT": str(ROOT),  # Powertools' test for "in Lambda": the Tracer patches
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "_HANDLER": fn.handler,
        "PYTHONPYCACHEPREFIX": str(config.prefix),
    }
    return child_env(extra)


def _warm(prefix: Path, functions: list[FunctionInfo]) -> None:
    """One untimed child running everything measured, to fill the bytecode cache."""
    bodies = [f"importlib.import_module({fn.module!r})\n" for fn in functions] + list(BLOCKS.values())
    code = "import importlib\n" + "".join(
        "try:\n" + "".join(f"    {line}\n" for line in body.splitlines()) + "except Exception:\n    pass\n"
        for body in bodies
    )
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
        if any(source.is_relative_to(s) for s in stdlib):
            continue
        shutil.rmtree(target / source.relative_to(source.anchor), ignore_errors=True)


def _heaviest(fn: FunctionInfo, prefix: Path, count: int = 5) -> list[tuple[str, float]]:
    code = f"import {fn.module}\nimport os\nos._exit(0)\n"
    run = run_child(code, _env(fn, Config("importtime", 1, prefix)), args=("-X", "importtime"))
    by_package: dict[str, float] = defaultdict(float)
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if self_us.isdigit():  # not the header line
            by_package[name.split(".")[0]] += int(self_us) / 1000
    return sorted(by_package.items(), key=lambda kv: -kv[1])[:count]


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _measure(first: dict[str, FunctionInfo], runs: int, alt_runs: int, block_runs: int) -> Measured:
    modules = list(first)
    functions = list(first.values())
    measured = Measured()
    with tempfile.TemporaryDirectory(prefix="mallcrm-bench-pyc-") as tmp:
        warm = Path(tmp) / "warm"
        _warm(warm, functions)
        cold = Path(tmp) / "nopyc"
        _strip_non_stdlib(warm, cold)
        for config in (Config("lambda", runs, warm), Config("no-pyc", alt_runs, cold)):
            results = measured.results[config.name] = {m: Samples() for m in modules}
            bare = measured.bare[config.name] = []
            for _ in range(config.runs):
                bare.append(run_child(_import_code(None), _env(functions[0], config)).wall_ms)
                for module in modules:
                    if module in measured.failed:
                        continue
                    try:
                        child = run_child(_import_code(module), _env(first[module], config))
                    except RuntimeError as exc:  # a module that does not import (work in progress)
                        measured.failed[module] = str(exc).strip().splitlines()[-1]
                        continue
                    parsed = last_json_line(child.stdout)
                    results[module].import_ms.append(float(parsed["ms"]))
                    results[module].cpu_ms.append(float(parsed["cpu_ms"]))
                    results[module].wall_ms.append(child.wall_ms)
                    results[module].modules = int(parsed["modules"])
        measured.heaviest = {m: _heaviest(first[m], warm) for m in modules if m not in measured.failed}
        block_config = Config("lambda", block_runs, warm)
        measured.blocks = {label: Samples() for label in BLOCKS}
        for _ in range(block_runs):
            for label, body in BLOCKS.items():
                parsed = last_json_line(run_child(_timed_code(body), _env(functions[0], block_config)).stdout)
                measured.blocks[label].import_ms.append(float(parsed["ms"]))
                measured.blocks[label].cpu_ms.append(float(parsed["cpu_ms"]))
                measured.blocks[label].modules = int(parsed["modules"])
    return measured


def _main_table(
    modules: list[str], by_module: dict[str, list[FunctionInfo]], m: Measured, runs: int, alt_runs: int
) -> Table:
    table = Table(
        "1. Cold import of each handler module (ms, median; target <= 250 ms in the 'lambda' column)",
        [
            "handler module",
            "functions",
            "lambda",
            "min-max",
            "cpu",
            "proc-bare",
            "modules",
            "no-pyc",
            "no-pyc cpu",
            "target",
        ],
    )
    lam, nopyc = m.results["lambda"], m.results["no-pyc"]
    bare_lambda = median(m.bare["lambda"])
    rows: list[dict[str, Any]] = []
    for module in modules:
        functions = ",".join(fn.logical_id for fn in by_module[module])
        if module in m.failed:
            table.add(module.removeprefix("services."), functions, *(["-"] * 7), "error")
            table.notes.append(f"{module} did not import: {m.failed[module]}")
            continue
        s = lam[module]
        value = median(s.import_ms)
        table.add(
            module.removeprefix("services."),
            functions,
            ms(value),
            f"{ms(min(s.import_ms), 0)}-{ms(max(s.import_ms), 0)}",
            ms(median(s.cpu_ms)),
            ms(median(s.wall_ms) - bare_lambda),
            s.modules,
            ms(median(nopyc[module].import_ms)),
            ms(median(nopyc[module].cpu_ms)),
            verdict(value, TARGET_MS),
        )
        rows.append(
            {
                "module": module,
                "functions": [fn.logical_id for fn in by_module[module]],
                "lambda_ms": value,
                "lambda_samples": s.import_ms,
                "cpu_ms": median(s.cpu_ms),
                "process_minus_bare_ms": median(s.wall_ms) - bare_lambda,
                "modules": s.modules,
                "no_pyc_ms": median(nopyc[module].import_ms),
                "no_pyc_samples": nopyc[module].import_ms,
                "no_pyc_cpu_ms": median(nopyc[module].cpu_ms),
                "heaviest": m.heaviest.get(module, []),
            }
        )
    missed = sum(1 for r in rows if r["lambda_ms"] > TARGET_MS)
    table.notes += [
        f"lambda: import only, inside a fresh interpreter, median of {runs}; Lambda-like environment "
        "(Tracer on, as Tracing: Active), bytecode cached.",
        "cpu: the child's CPU time over the same import (process_time); well below 'lambda' means the "
        "machine was busy and the wall-clock figure is inflated.",
        f"proc-bare: child wall time (spawn to exit) minus a bare child ({ms(bare_lambda)} ms), same runs.",
        "no-pyc: stdlib bytecode only, as the sam build artifacts run on Lambda; "
        + (f"median of {alt_runs}." if alt_runs > 1 else "one run each (indicative)."),
        f"target <= {TARGET_MS:.0f} ms: {len(rows) - missed} of {len(rows)} handler modules met it.",
        f"Python {sys.version.split()[0]} here; Lambda runs python3.12 on arm64.",
    ]
    table.data = {"target_ms": TARGET_MS, "runs": runs, "alt_runs": alt_runs, "bare_ms": m.bare, "rows": rows}
    return table


def run(runs: int = 5, alt_runs: int = 1, block_runs: int = 3) -> list[Table]:
    every = template_functions()
    absent = sorted({fn.module for fn in every if not _exists(fn.module)})
    by_module: dict[str, list[FunctionInfo]] = defaultdict(list)
    for fn in every:
        if _exists(fn.module):
            by_module[fn.module].append(fn)
    modules = list(by_module)
    measured = _measure({m: fns[0] for m, fns in by_module.items()}, runs, alt_runs, block_runs)

    main = _main_table(modules, by_module, measured, runs, alt_runs)
    if absent:
        main.notes.append("not measured (module not in the repo yet): " + ", ".join(absent))
    main.data.update({"absent": absent, "failed": measured.failed})

    heavy = Table(
        "1b. Five heaviest imported packages per handler "
        "(self ms summed per top-level package, -X importtime)",
        ["handler module", "1", "2", "3", "4", "5"],
    )
    for module in modules:
        if module in measured.heaviest:
            heavy.add(
                module.removeprefix("services."),
                *(f"{name} {value:.0f}" for name, value in measured.heaviest[module]),
            )
    heavy.notes.append(
        "one run each, 'lambda' configuration; -X importtime inflates absolute times a little."
    )

    blocks = Table(
        "1c. Building blocks, each alone in a fresh interpreter ('lambda' configuration; ms)",
        ["block", "median", "min-max", "cpu", "modules"],
    )
    for label, s in measured.blocks.items():
        blocks.add(
            label,
            ms(median(s.import_ms)),
            f"{ms(min(s.import_ms), 0)}-{ms(max(s.import_ms), 0)}",
            ms(median(s.cpu_ms)),
            s.modules,
        )
    blocks.notes.append(
        f"median of {block_runs}; blocks overlap (each includes what it shares with the others), "
        "so they do not add up to a handler's figure."
    )
    blocks.data = {label: s.import_ms for label, s in measured.blocks.items()}
    return [main, heavy, blocks]
