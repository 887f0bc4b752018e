"""Dispatch with the WeChat adapter on a moto CampaignsTable when the POST fails: a send whose
request may have reached WeChat is recorded ``failed`` / ``wechat_outcome_unknown`` and never
posted again; one that certainly did not (a connect timeout) is retried with backoff and sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.error import URLError

import pytest

from services.campaigns.dal.channels import WECHAT_OUTCOME_UNKNOWN, WeChatSubscribeAdapter
from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.logic.dispatch import Dependencies, Policy, process, process_batch
from services.campaigns.logic.guardrails import Limits, QuietHours
from tests.integration.campaigns.test_dispatch import (
    MORNING,
    TABLE,
    ZONE,
    FakeOffers,
    FakeWaker,
    consent,
    events,
    record,
    request,
    stats,
)
from tests.integration.helpers import create_table


class Contacts:
    def address(self, member_id: str, channel: str, purpose: str) -> str | None:
        return f"o-openid-{member_id}" if channel == "wechat" else None


class WeChatTransport:
    """The fake HTTP layer: records each POST, raises the scripted urllib failures first."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.posts: list[dict[str, Any]] = []

    def __call__(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert url.startswith(WeChatSubscribeAdapter.URL)
        self.posts.append(payload)
        if self.failures:
            raise self.failures.pop(0)
        return {"errcode": 0, "errmsg": "ok", "msgid": 1000 + len(self.posts)}


def world(transport: WeChatTransport) -> tuple[Dependencies, Policy, FakeWaker]:
    create_table(TABLE)
    waker = FakeWaker()
    adapter = WeChatSubscribeAdapter(Contacts(), "TPL-1", lambda: "TOKEN-1", transport)
    deps = Dependencies(
        store=DynamoDispatchStore(TABLE), channels={"wechat": adapter}, offers=FakeOffers(), waker=waker
    )
    policy = Policy(
        zone=ZONE,
        limits=Limits(per_day=1, per_week=3),
        quiet=QuietHours(21, 9),
        decision_window=timedelta(seconds=60),
        rate_per_minute=1000,
        max_attempts=4,
    )
    return deps, policy, waker


@pytest.mark.usefixtures("moto_aws")
def test_a_read_timeout_after_the_post_fails_the_send_once_and_for_all() -> None:
    wechat = WeChatTransport(TimeoutError("The read operation timed out"))
    deps, policy, _ = world(wechat)
    consent("m1", "wechat")
    send = request(channels=("wechat",))
    assert process(send, deps, policy, MORNING) == "held"
    assert process(send, deps, policy, MORNING + timedelta(minutes=1)) == "failed"
    assert len(wechat.posts) == 1
    sent = record(send.send_id)
    assert (sent["status"], sent["reason"]) == ("failed", WECHAT_OUTCOME_UNKNOWN)
    [event] = events("MessageSuppressed")
    assert (event["outcome"], event["reason"], event["channel"]) == (
        "failed",
        WECHAT_OUTCOME_UNKNOWN,
        "wechat",
    )
    assert stats()["failed"] == 1
    assert events("MessageSent") == []
    # A redelivery of the request (SQS, a replay) finds the final record: no second POST.
    assert process(send, deps, policy, MORNING + timedelta(minutes=20)) == "duplicate"
    assert len(wechat.posts) == 1


@pytest.mark.usefixtures("moto_aws")
def test_a_connect_timeout_is_retried_with_backoff_then_sent() -> None:
    wechat = WeChatTransport(URLError(TimeoutError("timed out")))
    deps, policy, waker = world(wechat)
    consent("m1", "wechat")
    send = request(channels=("wechat",))
    assert process(send, deps, policy, MORNING) == "held"
    assert process(send, deps, policy, MORNING + timedelta(minutes=1)) == "retry"
    waiting = record(send.send_id)
    assert (waiting["status"], waiting["reason"]) == ("retry", "wechat_unreachable")
    later = waker.times[-1]
    assert later > MORNING + timedelta(minutes=1)
    assert process(send, deps, policy, later) == "sent"
    assert len(wechat.posts) == 2  # the first never reached WeChat
    assert record(send.send_id)["status"] in {"sent", "delivered"}
    assert len(events("MessageSent")) == 1


@pytest.mark.usefixtures("moto_aws")
def test_in_a_batch_the_unknown_outcome_fails_only_its_own_message() -> None:
    """What the SQS consumer runs (``process_batch``, the store's batch mode): the leases of the
    whole batch are committed before the POSTs; one read timeout fails that send alone."""
    wechat = WeChatTransport(ConnectionResetError(104, "Connection reset by peer"))
    deps, policy, _ = world(wechat)
    sends = [request(f"cmp#c1#m{n}", member_id=f"m{n}", channels=("wechat",), priority=100) for n in (1, 2)]
    for n in (1, 2):
        consent(f"m{n}", "wechat")
    # Priority 100: held and sent in one pass (nothing can outrank it).
    assert process_batch(sends, deps, policy, MORNING) == ["failed", "sent"]
    assert [p["touser"] for p in wechat.posts] == ["o-openid-m1", "o-openid-m2"]
    first, second = record(sends[0].send_id), record(sends[1].send_id)
    assert (first["status"], first["reason"]) == ("failed", WECHAT_OUTCOME_UNKNOWN)
    assert second["status"] in {"sent", "delivered"}
    assert process_batch(sends, deps, policy, MORNING + timedelta(minutes=5)) == ["duplicate", "duplicate"]
    assert len(wechat.posts) == 2
