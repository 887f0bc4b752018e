"""The front door on the engine's Runner: its result objects and failures.

The 2 ms overhead budget is measured by `make bench`, not asserted here (timings do not belong in tests).
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.localcloud.clock import VirtualClock
from infra.localcloud.frontdoor import ApiDefinition, FrontDoor, JwtAuthorizer, JwtVerifier, Route
from infra.localcloud.runner import FunctionSpec, Runner
from tests.fixtures.frontdoor.fakes import CLIENT_ID, ISSUER, START, Issuer

ROOT = Path(__file__).resolve().parents[3]
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


class RunnerCloud:
    def __init__(self) -> None:
        self.clock = VirtualClock(START)
        self.runner = Runner(ROOT, self.clock)
        for logical_id, handler in (
            ("Noop", "tests.fixtures.frontdoor.fakes.lambda_handler"),
            ("Missing", "tests.fixtures.frontdoor.fakes.no_such_handler"),
        ):
            self.runner.register(
                FunctionSpec(logical_id, logical_id.lower(), ARN + logical_id, handler, None, {})
            )

    def invoke(self, logical_id, event, trigger="direct"):
        return self.runner.invoke(logical_id, event, trigger=trigger)

    def advance(self, seconds):
        self.clock.advance(seconds)


ISSUER_KEYS = Issuer()
STAFF = JwtAuthorizer("StaffJwt", ISSUER, (CLIENT_ID,))


def _door():
    cloud = RunnerCloud()
    routes = (
        Route("POST", "/v1/integrations/purchases", "Noop"),
        Route("GET", "/v1/admin/members/{id}", "Noop", STAFF),
        Route("GET", "/broken", "Missing"),
        Route("GET", "/unknown-function", "NotInTheTemplate"),
        *(Route("GET", f"/v1/r{i}/{{id}}", "Noop") for i in range(60)),
    )
    door = FrontDoor(
        cloud, api=ApiDefinition(routes=routes), verifier=JwtVerifier(fetch_jwks=ISSUER_KEYS.fetch)
    )
    return door, cloud


def test_runner_results_and_failures():
    door, cloud = _door()
    assert door.handle("POST", "/v1/integrations/purchases", {}, b"{}")[::2] == (200, b"{}")
    assert cloud.runner.invocations[-1].trigger == "http"
    for path in ("/broken", "/unknown-function"):
        status, _, body = door.handle("GET", path, {}, b"")
        assert status == 502
        assert json.loads(body)["error"]["code"] == "bad_gateway"
        assert b"no_such_handler" not in body and b"Traceback" not in body
