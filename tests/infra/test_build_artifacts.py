"""The `sam build` makefiles, checked without SAM, pip or the network.

How SAM runs them (aws-lambda-builders' CustomMakeWorkflow, read in .venv-sam): it copies the
CodeUri folder into a scratch temp dir, then runs `make --makefile <CodeUri>/Makefile
build-<LogicalId>` with the scratch copy as the working directory and ARTIFACTS_DIR in the
environment. The tests below do exactly that, then import every handler from the artifact with the
`shared` package from the layer's copy step, so a handler that only imports from the repository
(or reads its environment at import) fails here, not on Lambda.

The pip half of the layer (Linux aarch64 wheels) needs the network and takes a while, so `make test`
only checks its command line; `make build` runs it for real, and the last test inspects that
output (aarch64 extension modules, handlers in place) whenever .aws-sam/build exists.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.template_loader import ROOT, of_type, props, sam_resources

LAYER_MAKEFILE = ROOT / "infra" / "layer" / "Makefile"
BUILD_DIR = ROOT / ".aws-sam" / "build"
EM_AARCH64 = 183
SKIP_DIRS = {"__pycache__", "tests"}


def _functions() -> dict[str, dict[str, Any]]:
    return {
        name: props(fn) | {"Metadata": fn.get("Metadata") or {}}
        for name, fn in of_type(sam_resources(), "AWS::Serverless::Function").items()
    }


def _code_dirs() -> dict[Path, list[str]]:
    """CodeUri folder -> the functions built from it."""
    groups: dict[Path, list[str]] = {}
    for name, fn in sorted(_functions().items()):
        groups.setdefault((ROOT / str(fn["CodeUri"])).resolve(), []).append(name)
    return groups


def _handler_file(handler: str) -> tuple[Path, str]:
    module, _, attribute = handler.rpartition(".")
    return ROOT.joinpath(*module.split(".")).with_suffix(".py"), attribute


def _make_env(**extra: str) -> dict[str, str]:
    """This environment without an outer make's flags or the layer's overrides."""
    dropped = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "LAYER_PLATFORM", "LAYER_PYTHON_VERSION", "ARTIFACTS_DIR")
    return {k: v for k, v in os.environ.items() if k not in dropped} | extra


def _run_make(makefile: Path, target: str, artifacts: Path, cwd: Path) -> None:
    env = _make_env(ARTIFACTS_DIR=str(artifacts))
    result = subprocess.run(
        ["make", "--no-print-directory", "--makefile", str(makefile), target],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout}\n{result.stderr}"


def _sam_style_build(code_dir: Path, logical_id: str, tmp: Path) -> Path:
    """Build one function the way SAM does: from a scratch copy, with the original Makefile."""
    scratch = tmp / "scratch" / logical_id
    shutil.copytree(code_dir, scratch, ignore=shutil.ignore_patterns(".aws-sam", ".git"))
    artifacts = tmp / "artifacts" / logical_id
    artifacts.mkdir(parents=True)
    _run_make(code_dir / "Makefile", f"build-{logical_id}", artifacts, scratch)
    return artifacts


def _files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not SKIP_DIRS & set(p.relative_to(root).parts) and p.suffix != ".pyc"
    }


# --- the template's side of the contract -----------------------------------------------------------


def test_every_function_and_the_layer_are_built_by_their_makefile():
    problems = []
    for name, fn in _functions().items():
        code_uri = fn.get("CodeUri")
        if fn["Metadata"].get("BuildMethod") != "makefile":
            problems.append(
                f"{name}: Metadata.BuildMethod {fn['Metadata'].get('BuildMethod')!r}, want makefile"
            )
        if not isinstance(code_uri, str) or not (ROOT / code_uri / "Makefile").is_file():
            problems.append(f"{name}: no Makefile in CodeUri {code_uri!r}")
            continue
        handler = str(fn.get("Handler", ""))
        path, attribute = _handler_file(handler)
        if not path.is_file():
            problems.append(f"{name}: Handler {handler!r} -> {path.relative_to(ROOT)} does not exist")
            continue
        if (ROOT / code_uri).resolve() not in path.resolve().parents:
            problems.append(f"{name}: Handler {handler!r} lives outside its CodeUri {code_uri}")
        names = {
            node.name
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        } | {
            target.id
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        if attribute not in names:
            problems.append(f"{name}: {path.relative_to(ROOT)} defines no {attribute!r}")
    layers = of_type(sam_resources(), "AWS::Serverless::LayerVersion")
    for name, layer in layers.items():
        metadata = layer.get("Metadata") or {}
        if metadata.get("BuildMethod") != "makefile" or metadata.get("BuildArchitecture") != "arm64":
            problems.append(
                f"{name}: Metadata {metadata!r}, want BuildMethod makefile, BuildArchitecture arm64"
            )
        if not (ROOT / str(props(layer).get("ContentUri")) / "Makefile").is_file():
            problems.append(f"{name}: no Makefile in ContentUri {props(layer).get('ContentUri')!r}")
    assert not problems, "\n  " + "\n  ".join(problems)


def test_the_service_makefiles_are_one_file():
    makefiles = sorted(ROOT.glob("services/*/Makefile"))
    assert makefiles
    first = makefiles[0].read_text(encoding="utf-8")
    different = [str(m.relative_to(ROOT)) for m in makefiles if m.read_text(encoding="utf-8") != first]
    assert not different, f"differ from {makefiles[0].relative_to(ROOT)}: {different}"


def test_the_layer_installs_linux_arm64_wheels_for_python_3_12():
    result = subprocess.run(
        [
            "make",
            "-n",
            "--no-print-directory",
            "--makefile",
            str(LAYER_MAKEFILE),
            "build-SharedLayer",
            "ARTIFACTS_DIR=/nowhere",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=_make_env(),
    )
    command = " ".join(result.stdout.split())
    for flag in (
        "pip install",
        '--platform "manylinux2014_aarch64"',
        "--implementation cp",
        '--python-version "3.12"',
        "--only-binary=:all:",
        '--target "/nowhere/python"',
        f'-r "{ROOT}/requirements/runtime.txt"',
    ):
        assert flag in command, f"{flag!r} not in the layer's pip command:\n{command}"


# --- the makefiles, run the way SAM runs them ------------------------------------------------------


def test_the_layer_ships_the_shared_package_without_tests_or_caches(tmp_path):
    fake = tmp_path / "repo"
    (fake / "infra" / "layer").mkdir(parents=True)
    shutil.copy(LAYER_MAKEFILE, fake / "infra" / "layer" / "Makefile")
    for relative in (
        "shared/__init__.py",
        "shared/events/__init__.py",
        "shared/tests/test_x.py",
        "shared/__pycache__/x.cpython-311.pyc",
    ):
        (fake / relative).parent.mkdir(parents=True, exist_ok=True)
        (fake / relative).write_text("# x\n")
    scratch = tmp_path / "scratch"
    shutil.copytree(fake / "infra" / "layer", scratch)
    _run_make(fake / "infra" / "layer" / "Makefile", "layer-shared", tmp_path / "out", scratch)
    shipped = {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert shipped == {"python/shared/__init__.py", "python/shared/events/__init__.py"}


def test_the_real_layer_copy_is_the_shared_package(tmp_path):
    scratch = tmp_path / "scratch"
    shutil.copytree(LAYER_MAKEFILE.parent, scratch)
    _run_make(LAYER_MAKEFILE, "layer-shared", tmp_path / "layer", scratch)
    assert _files(tmp_path / "layer" / "python" / "shared") == _files(ROOT / "shared")


def test_a_service_artifact_keeps_the_repository_layout(tmp_path):
    fake = tmp_path / "repo"
    service = fake / "services" / "demo"
    for relative in (
        "__init__.py",
        "handlers/__init__.py",
        "handlers/api.py",
        "logic/rules.py",
        "tests/test_rules.py",
        "handlers/__pycache__/api.cpython-311.pyc",
        "README.md",
    ):
        (service / relative).parent.mkdir(parents=True, exist_ok=True)
        (service / relative).write_text("# x\n")
    shutil.copy(ROOT / "services" / "loyalty" / "Makefile", service / "Makefile")
    artifacts = _sam_style_build(service, "DemoApiFunction", tmp_path)
    shipped = {str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file()}
    assert shipped == {
        "services/__init__.py",
        "services/demo/__init__.py",
        "services/demo/handlers/__init__.py",
        "services/demo/handlers/api.py",
        "services/demo/logic/rules.py",
    }


@pytest.fixture(scope="module")
def layer_shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out: Path = tmp_path_factory.mktemp("layer")
    scratch = tmp_path_factory.mktemp("layer-scratch")
    shutil.copytree(LAYER_MAKEFILE.parent, scratch, dirs_exist_ok=True)
    _run_make(LAYER_MAKEFILE, "layer-shared", out, scratch)
    return out / "python"


@pytest.mark.parametrize("code_dir", sorted(_code_dirs()), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_handler_imports_from_its_artifact(code_dir, layer_shared, tmp_path):
    functions = _code_dirs()[code_dir]
    artifacts = _sam_style_build(code_dir, functions[0], tmp_path)
    handlers = sorted({str(_functions()[name]["Handler"]) for name in functions})
    probe = (
        "import importlib, json, sys, traceback\n"
        "found, failed = {}, {}\n"
        "for handler in sys.argv[1:]:\n"
        "    module, _, attribute = handler.rpartition('.')\n"
        "    try:\n"
        "        loaded = importlib.import_module(module)\n"
        "        if not callable(getattr(loaded, attribute, None)):\n"
        "            raise TypeError(f'{module}.{attribute} is not callable')\n"
        "        found[handler] = loaded.__file__\n"
        "    except Exception:\n"
        "        failed[handler] = traceback.format_exc(limit=-3)\n"
        "import shared\n"
        "found['shared'] = shared.__file__\n"
        "print(json.dumps({'found': found, 'failed': failed}))\n"
    )
    # Only what Lambda would have: the artifact (/var/task), the layer (/opt/python) and, standing in
    # for the layer's aarch64 wheels, this interpreter's site-packages. No STAGE, no TABLE_NAME:
    # handlers must not read their settings at import.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(artifacts), str(layer_shared)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe, *handlers],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, f"the import probe itself failed:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    failed = report["failed"]
    assert not failed, "handlers that do not import from the artifact:\n" + "\n".join(
        f"--- {handler}\n{trace}" for handler, trace in failed.items()
    )
    found = report["found"]
    for handler in handlers:
        assert found[handler].startswith(str(artifacts)), (
            f"{handler} came from {found[handler]}, not the artifact"
        )
    assert found["shared"].startswith(str(layer_shared)), f"shared came from {found['shared']}, not the layer"


# --- the output of a real `make build`, when there is one ----------------------------------------------


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    return int.from_bytes(header[18:20], "little")


# `make build` runs this test right after `sam build` with MALLCRM_CHECK_BUILD=1, where a missing or
# stale output is a failure. `make test` builds nothing (the layer needs the Lambda platform's wheels
# from the network), so there the test runs only when a current build happens to be on disk.
REQUIRED = os.environ.get("MALLCRM_CHECK_BUILD") == "1"


@pytest.mark.skipif(
    not REQUIRED and not (BUILD_DIR / "template.yaml").is_file(),
    reason="checks the output of `make build`, which runs it; make test builds nothing",
)
def test_the_sam_build_output_is_for_lambda_arm64():
    from samtranslator.yaml_helper import yaml_parse

    assert (BUILD_DIR / "template.yaml").is_file(), "no sam build output in .aws-sam/build"

    built = yaml_parse((BUILD_DIR / "template.yaml").read_text(encoding="utf-8"))
    built_handlers = {
        n: props(f).get("Handler")
        for n, f in of_type(built["Resources"], "AWS::Serverless::Function").items()
    }
    if built_handlers != {n: fn.get("Handler") for n, fn in _functions().items()}:
        assert not REQUIRED, "the output in .aws-sam/build does not match template.yaml"
        pytest.skip("the output in .aws-sam/build is of an older template.yaml: `make build` checks it")
    problems = []
    for name, fn in of_type(built["Resources"], "AWS::Serverless::Function").items():
        artifact = BUILD_DIR / str(props(fn).get("CodeUri"))
        module, _, _ = str(props(fn).get("Handler")).rpartition(".")
        if not artifact.joinpath(*module.split(".")).with_suffix(".py").is_file():
            problems.append(f"{name}: {props(fn).get('Handler')} is not in {artifact.relative_to(ROOT)}")
        # Byte code compiled for the runtime (cpython-312) is shipped on purpose; any other cache is
        # the build machine's and would be ignored on Lambda.
        stray = [p for p in artifact.rglob("*.pyc") if ".cpython-312." not in p.name]
        if stray or any(p.name == "tests" for p in artifact.rglob("*")):
            problems.append(f"{name}: the artifact carries the build machine's caches or tests")
    for name, layer in of_type(built["Resources"], "AWS::Serverless::LayerVersion").items():
        python = BUILD_DIR / str(props(layer).get("ContentUri")) / "python"
        if not (python / "shared" / "__init__.py").is_file():
            problems.append(f"{name}: python/shared is missing")
        extensions = list(python.rglob("*.so"))
        if not any(p.name.startswith("_pydantic_core.cpython-312-aarch64") for p in extensions):
            problems.append(f"{name}: no pydantic_core extension for cpython-312 aarch64")
        problems += [
            f"{name}: {p.relative_to(python)} is not an aarch64 ELF"
            for p in extensions
            if _elf_machine(p) != EM_AARCH64
        ]
        if any(python.rglob("*.cpython-311*.pyc")):
            problems.append(f"{name}: byte code of the build interpreter (3.11) in the layer")
    assert not problems, "\n  " + "\n  ".join(problems)
