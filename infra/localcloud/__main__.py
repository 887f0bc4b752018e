"""`python -m infra.localcloud serve --port 3000 [--empty] [--host 127.0.0.1]` (what `make dev` runs).

The socket is bound first, so `/_local/health` answers at once (503 `starting` while the cloud
boots, 200 `ok` after); then the cloud boots, runs in background mode (virtual time flows, queues
and streams drain by themselves), the demo mall is seeded unless `--empty`, and the URLs and demo
credentials are printed. Ctrl-C (or SIGTERM) stops the server and the cloud cleanly.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from infra.localcloud.server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("mallcrm.localcloud")


class Starting:
    """The front door while the cloud boots: health says so, everything else is a 503."""

    def handle(
        self, method: str, path: str, headers: Any, body: Any, **_: Any
    ) -> tuple[int, dict[str, str], bytes]:
        if path.split("?", 1)[0] == "/_local/health":
            doc: dict[str, Any] = {"status": "starting"}
        else:
            doc = {"error": {"code": "starting", "message": "The local cloud is starting.", "fields": []}}
        return 503, {"content-type": "application/json", "retry-after": "1"}, json.dumps(doc).encode()


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _banner(url: str, cloud: Any, door: Any, report: Any, timings: dict[str, float]) -> None:
    keys = {r.key for r in door.table.routes}
    _say()
    _say(f"MallCRM local cloud on {url}  ({len(cloud.functions)} functions, {len(keys)} routes)")
    _say("  " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))
    _say()
    _say(f"  API          {url}")
    _say(f"  Swagger UI   {url}/docs")
    _say(f"  OpenAPI      {url}/openapi.json")
    _say(f"  Health       {url}/_local/health")
    _say(f"  Clock        curl -X POST {url}/_local/clock/advance -d '{{\"seconds\": 86400}}'")
    _say(f"  Inspect      {url}/_local/events   {url}/_local/outbox   {url}/_local/invocations")
    if report is None:
        _say()
        _say("  No demo data (--empty).")
    else:
        _say()
        _say(f"  Demo staff (password {report.password}):")
        for person in report.staff:
            _say(f"    {person['username']:<16} {person['role']}")
        if "POST /v1/auth/staff" in keys:
            _say(
                f"  Staff token: curl -X POST {url}/v1/auth/staff -H 'content-type: application/json' "
                f'-d \'{{"username": "demo.admin", "password": "{report.password}"}}\''
            )
        _say()
        sources = ", ".join(report.sources)
        _say(f"  Integration sources {sources}; keys in {report.keys_file}")
        _say(f"  Demo members (WeChat login code local:<openid>): {len(report.members)} registered")
        for openid, member_id in report.members.items():
            _say(f"    local:{openid:<20} {member_id}")
        for failure in report.member_failures[:3]:
            _say(f"    failed: {failure}")
        _say(f"  Coupon templates (loyalty): {', '.join(report.coupon_templates) or 'none'}")
        for failure in report.coupon_template_failures[:3]:
            _say(f"    failed: {failure}")
        _say(f"  Store directory (loyalty, GET /v1/admin/stores): {len(report.stores)} stores")
        for failure in report.store_failures[:3]:
            _say(f"    failed: {failure}")
        _say(f"  Demo purchases: {report.purchases_posted} recorded")
        for failure in report.purchase_failures[:3]:
            _say(f"    failed: {failure}")
        _say(f"  Programme: {', '.join(f'{len(v)} {k}' for k, v in report.programme.items())}")
        for failure in report.programme_failures[:3]:
            _say(f"    failed: {failure}")
        if report.clock_moved_to:
            _say(f"  Virtual clock moved to {report.clock_moved_to} (the mall's day: no quiet hours)")
        body = report.demo_purchase_file or "infra/seed/data/example-purchase.json"
        _say(
            f"  A signed purchase for {report.demo_member or 'nobody'} "
            "(normal -> silver; a fresh signature per call):"
        )
        _say(f'    eval "$(python -m infra.seed.sign --body-file {body} --url {url} --curl)"')
    _say()
    _say("  Ctrl-C stops.")


def serve(host: str, port: int, *, empty: bool, quiet: bool) -> int:
    began = time.perf_counter()
    try:
        server = LocalServer(Starting(), host, port, quiet=quiet).start()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _say(f"Port {port} on {host} is in use: stop the other server or run `make dev PORT={port + 1}`.")
            return 1
        raise
    url = server.url
    _say(f"Starting the MallCRM local cloud on {url} ...")
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    cloud: Any = None
    try:
        from infra.localcloud.cloud import LocalCloud
        from infra.localcloud.frontdoor import LOCAL_S3_PREFIX, FrontDoor
        from shared.aws import LOCAL_S3_LINK_BASE

        cloud = LocalCloud.start(ROOT)
        # Presigned S3 links (a member's data export) point at this server's /_local/s3/.
        cloud.runner.shared_env[LOCAL_S3_LINK_BASE] = f"{url}{LOCAL_S3_PREFIX}"
        door = FrontDoor(cloud)
        server.front_door = door
        timings = {"boot": time.perf_counter() - began}
        _say(f"Booted in {timings['boot']:.1f} s; /_local/health is up.")
        report = None
        if not empty:
            from infra.seed.demo import seed_all

            # Before background mode: the seed settles once at the end instead of competing with
            # the background settle loop for the runner (about twice as fast).
            seeded = time.perf_counter()
            report = seed_all(cloud, door.handle, client=cloud.client, base_url=url)
            timings["seed"] = time.perf_counter() - seeded
        cloud.run_background()
        _banner(url, cloud, door, report, timings)
        while not stopping.wait(3600):
            pass
    except KeyboardInterrupt:
        _say("\nStopping ...")
    finally:
        server.stop()
        if cloud is not None:
            cloud.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localcloud")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the whole system on one port")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    run.add_argument("--port", type=int, default=3000)
    run.add_argument("--empty", action="store_true", help="no demo data")
    run.add_argument("--quiet", action="store_true", help="log warnings only")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    return serve(args.host, args.port, empty=args.empty, quiet=args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
