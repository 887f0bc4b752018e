"""The local-only routes: health, the virtual clock, the outbox, recent events and invocations."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.frontdoor.fakes import fake_front_door


def _json(door, method, path, body=b"", query=""):
    status, headers, raw = door.handle(method, path, {}, body, query=query)
    assert headers["content-type"] == "application/json"
    return status, json.loads(raw)


def test_health():
    door, _ = fake_front_door()
    assert _json(door, "GET", "/_local/health") == (
        200,
        {"status": "ok", "clock": "2026-03-12T19:03:58.390000Z", "functions": 5},
    )


def test_clock_and_advance():
    door, cloud = fake_front_door()
    assert _json(door, "GET", "/_local/clock")[1]["now"] == "2026-03-12T19:03:58.390000Z"
    status, doc = _json(door, "POST", "/_local/clock/advance", b'{"seconds": 86400}')
    assert status == 200
    assert doc == {
        "from": "2026-03-12T19:03:58.390000Z",
        "now": "2026-03-13T19:03:58.390000Z",
        "advanced": 86400,
    }
    assert cloud.advanced == [86400.0]
    assert _json(door, "POST", "/_local/clock/advance", b'{"seconds": 0.5}')[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"seconds": 0}',
        b'{"seconds": -1}',
        b'{"seconds": 34560001}',
        b'{"seconds": "60"}',
        b'{"seconds": true}',
        b'{"seconds": null}',
        b'{"seconds": NaN}',
        b'{"seconds": Infinity}',
        b"{}",
        b"[60]",
        b"",
    ],
)
def test_advance_validation(body):
    door, cloud = fake_front_door()
    status, doc = _json(door, "POST", "/_local/clock/advance", body)
    assert status == 422
    assert doc["error"]["code"] == "validation_failed"
    assert doc["error"]["fields"][0]["field"] == "seconds"
    assert cloud.advanced == []


def test_advance_rejects_a_body_that_is_not_json():
    door, _ = fake_front_door()
    assert _json(door, "POST", "/_local/clock/advance", b"sixty")[0] == 400


def test_the_400_day_limit_is_inclusive():
    door, _cloud = fake_front_door()
    assert _json(door, "POST", "/_local/clock/advance", b'{"seconds": 34560000}')[0] == 200


def test_outbox_events_and_invocations():
    door, cloud = fake_front_door()
    cloud.outbox.append({"channel": "sms", "to": "+86***", "text": "hi"})
    cloud.events.extend({"detail-type": f"E{i}"} for i in range(150))
    cloud.invocations.extend(f"line {i}" for i in range(5))
    assert _json(door, "GET", "/_local/outbox") == (
        200,
        {"messages": [{"channel": "sms", "to": "+86***", "text": "hi"}]},
    )
    status, doc = _json(door, "GET", "/_local/events")
    assert status == 200 and len(doc["events"]) == 100 and doc["events"][-1] == {"detail-type": "E149"}
    assert _json(door, "GET", "/_local/events", query="limit=2")[1] == {
        "events": [{"detail-type": "E148"}, {"detail-type": "E149"}]
    }
    assert _json(door, "GET", "/_local/events", query="limit=0")[0] == 422
    assert _json(door, "GET", "/_local/events", query="limit=x")[0] == 422
    assert _json(door, "GET", "/_local/invocations", query="limit=2")[1] == {
        "invocations": ["line 3", "line 4"]
    }


def test_local_routes_come_before_api_routes_and_unknown_ones_are_404():
    door, cloud = fake_front_door()
    assert _json(door, "GET", "/_local/nothing")[0] == 404
    assert _json(door, "DELETE", "/_local/health")[0] == 405
    assert _json(door, "GET", "/_local/clock/advance")[0] == 405
    assert cloud.calls == []  # the ANY /{proxy+} route never saw them


def test_a_failing_local_route_is_a_500_without_detail(monkeypatch: pytest.MonkeyPatch) -> None:
    door, cloud = fake_front_door()

    def broken(seconds: float) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(cloud, "advance", broken)
    status, doc = _json(door, "POST", "/_local/clock/advance", b'{"seconds": 1}')
    assert status == 500
    assert "secret" not in json.dumps(doc)


def test_values_that_are_not_json_are_rendered():
    from datetime import UTC, datetime

    door, cloud = fake_front_door()
    cloud.events.append({"time": datetime(2026, 1, 1, tzinfo=UTC), "raw": b"x", "other": {1, 2} and object()})
    doc = _json(door, "GET", "/_local/events")[1]
    assert doc["events"][0]["time"] == "2026-01-01T00:00:00.000000Z"
    assert doc["events"][0]["raw"] == "x"


@pytest.mark.parametrize(
    "query",
    [
        "AWSAccessKeyId=K&Signature=S&Expires=1000000000",  # SigV2, 2001
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20010101T000000Z&X-Amz-Expires=3600&X-Amz-Signature=S",
        "X-Amz-Date=yesterday&X-Amz-Expires=3600",
        "",
    ],
)
def test_a_presigned_link_that_expired_or_is_not_one_is_refused_before_any_read(query):
    door, _ = fake_front_door()  # the fake has no S3: a read would fail with 500
    status, doc = _json(door, "GET", "/_local/s3/exports-bucket/exports/01X/loyalty.json", query=query)
    assert status == 403 and doc["error"]["code"] == "access_denied"
