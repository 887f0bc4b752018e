"""Sign an integration request for the local cloud, as a POS would.

    python -m infra.seed.sign --source pos-demo --method POST \\
        --path /v1/integrations/purchases --body-file x.json

prints the four `X-MallCRM-*` headers (one `Name: value` per line). `--curl` prints a whole curl
command instead, to run with `eval "$(python -m infra.seed.sign ... --curl)"`.

The key comes from `--key`, else `MALLCRM_SIGNING_KEY`, else the file the demo seed writes
(`.localcloud/integration-keys.json`). The timestamp is the local cloud's *virtual* time (read from
`GET /_local/clock`, because the function checks the signature's age against that clock), else the
wall clock. A signature is good for one request (its nonce) within five minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

import requests

from infra.seed.demo import KEYS_FILE, signed_headers

DEFAULT_URL = "http://127.0.0.1:3000"


def _key(source: str, explicit: str | None, keys_file: Path) -> str:
    if explicit:
        return explicit
    if os.environ.get("MALLCRM_SIGNING_KEY"):
        return os.environ["MALLCRM_SIGNING_KEY"]
    if keys_file.is_file():
        key = json.loads(keys_file.read_text(encoding="utf-8")).get("sources", {}).get(source)
        if key:
            return str(key)
    raise SystemExit(
        f"no key for source {source!r}: pass --key, set MALLCRM_SIGNING_KEY, or run `make dev` first"
    )


def _virtual_now(url: str) -> datetime:
    try:
        response = requests.get(url.rstrip("/") + "/_local/clock", timeout=2)
        response.raise_for_status()
        return datetime.fromtimestamp(float(response.json()["epoch"]), UTC)
    except (requests.RequestException, KeyError, ValueError):
        print(f"warning: {url} did not tell its clock; signing with the wall clock", file=sys.stderr)  # noqa: T201
        return datetime.now(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.seed.sign", description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="pos-demo")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--path", default="/v1/integrations/purchases")
    parser.add_argument("--body-file", type=Path, help="the exact bytes to send (omit for an empty body)")
    parser.add_argument("--key", help="the source's HMAC key (default: the demo seed's)")
    parser.add_argument("--keys-file", type=Path, default=KEYS_FILE)
    parser.add_argument("--url", default=DEFAULT_URL, help="the local cloud, for its virtual clock")
    parser.add_argument("--timestamp", type=int, help="epoch seconds to sign with (default: the cloud's now)")
    parser.add_argument("--curl", action="store_true", help="print a complete curl command")
    args = parser.parse_args(argv)

    body = args.body_file.read_bytes() if args.body_file else b""
    key = _key(args.source, args.key, args.keys_file)
    now = (
        datetime.fromtimestamp(args.timestamp, UTC) if args.timestamp is not None else _virtual_now(args.url)
    )
    headers = signed_headers(args.source, key, method=args.method.upper(), path=args.path, body=body, now=now)
    if args.curl:
        parts = ["curl", "-sS", "-X", args.method.upper(), args.url.rstrip("/") + args.path]
        parts += ["-H", "content-type: application/json"]
        for name, value in headers.items():
            parts += ["-H", f"{name}: {value}"]
        if args.body_file:
            parts += ["--data-binary", f"@{args.body_file}"]
        print(shlex.join(parts))  # noqa: T201
    else:
        for name, value in headers.items():
            print(f"{name}: {value}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
