"""Helpers for `make deploy-localstack`.

``python -m infra.localstack.prepare check --endpoint http://localhost:4566``
    fails fast, with a clear message, when LocalStack is not answering.

``python -m infra.localstack.prepare flatten --build-dir .aws-sam/localstack``
    LocalStack's free image creates Lambda layers but does not apply them when a function runs,
    so every function would miss `shared` and the pinned dependencies. This folds each layer's
    `python/` into the artifact of every function that uses it (the artifact's root is on
    `sys.path`, like `/opt/python`) and writes `template.localstack.json` beside the built
    template, without the layers, for `sam deploy`. The AWS build is never touched: the
    LocalStack build has its own build directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

__all__ = ["check", "flatten", "main"]

FLAT_TEMPLATE = "template.localstack.json"


def check(endpoint: str, timeout: float = 3.0) -> dict[str, Any]:
    """LocalStack's health document; SystemExit with a readable message if nobody answers."""
    url = endpoint.rstrip("/") + "/_localstack/health"
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"{endpoint!r} is not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked above
            health: dict[str, Any] = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise SystemExit(
            f"LocalStack is not answering on {endpoint} ({exc}).\n"
            "Start it first: docker compose -f infra/localstack/docker-compose.yml up -d"
        ) from None
    return health


def _resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = template.get("Resources") or {}
    return resources


def _layer_ids(value: Any) -> list[str]:
    ids = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("Ref"), str):
            ids.append(item["Ref"])
    return ids


def flatten(build_dir: Path) -> Path:
    """Fold the layers into the functions of a `sam build` output; return the template written."""
    template: dict[str, Any] = yaml_parse((build_dir / "template.yaml").read_text(encoding="utf-8"))
    resources = _resources(template)
    layers = {
        name: build_dir / str((r.get("Properties") or {}).get("ContentUri"))
        for name, r in resources.items()
        if r.get("Type") == "AWS::Serverless::LayerVersion"
    }
    global_function = (template.get("Globals") or {}).get("Function") or {}
    global_layers = _layer_ids(global_function.pop("Layers", None))
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.setdefault("Properties", {})
        used = global_layers + _layer_ids(props.pop("Layers", None))
        unknown = [layer for layer in used if layer not in layers]
        if unknown:
            raise SystemExit(f"{name}: layers {unknown} are not built in {build_dir}")
        artifact = build_dir / str(props.get("CodeUri"))
        for layer in used:
            source = layers[layer] / "python"
            if not source.is_dir():
                raise SystemExit(f"{layer}: {source} is missing; did sam build run?")
            shutil.copytree(source, artifact, dirs_exist_ok=True)
    for layer in layers:
        del resources[layer]
    out = build_dir / FLAT_TEMPLATE
    out.write_text(json.dumps(template, indent=1), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.localstack.prepare", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="is LocalStack answering?")
    check_parser.add_argument("--endpoint", default="http://localhost:4566")
    flatten_parser = commands.add_parser(
        "flatten", help="fold layers into functions for LocalStack's free image"
    )
    flatten_parser.add_argument("--build-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "check":
        health = check(args.endpoint)
        sys.stdout.write(
            f"LocalStack {health.get('version', '?')} ({health.get('edition', '?')}) on {args.endpoint}\n"
        )
    else:
        sys.stdout.write(f"wrote {flatten(args.build_dir)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
