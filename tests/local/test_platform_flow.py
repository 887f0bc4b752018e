"""The platform flow through the local cloud on the real template (see platform_scenario.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.localcloud.cloud import LocalCloud
from shared import clock
from tests.local import platform_scenario as flow

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture(scope="module")
def ran() -> Iterator[tuple[LocalCloud, flow.FlowResult]]:
    cloud = LocalCloud.start(ROOT)
    try:
        yield cloud, flow.run(cloud)
    finally:
        cloud.stop()


def test_members_register_through_the_api_with_their_consents(ran):
    cloud, result = ran
    assert result.registrations == [201, 201, 201]
    assert len(set(result.members.values())) == 3
    changed = [e["detail"]["data"] for e in cloud.events if e["detail-type"] == "MemberConsentChanged"]
    marketing = {(d["member_id"], d["channel"]): d["granted"] for d in changed if d["purpose"] == "marketing"}
    assert marketing == {
        (result.members[flow.DORMANT], "wechat"): True,
        (result.members[flow.RETURNING], "sms"): True,
        (result.members[flow.NO_CONSENT], "sms"): False,
    }
    registered = [e for e in cloud.events if e["detail-type"] == "MemberRegistered"]
    assert len(registered) == 3


def test_purchases_enter_through_the_signed_api(ran):
    _, result = ran
    assert [status for status, _ in result.first_purchases] == [201, 201, 201]
    assert result.return_purchase is not None
    assert result.return_purchase[0] == 201


def test_each_purchase_reaches_the_bus_once_through_the_outbox_stream(ran):
    cloud, _ = ran
    recorded = [e for e in cloud.events if e["detail-type"] == "PurchaseRecorded"]
    assert sorted(e["detail"]["data"]["external_id"] for e in recorded) == [
        "flow-0001",
        "flow-0002",
        "flow-0003",
        "flow-0004",
    ]
    assert {e["source"] for e in recorded} == {"mallcrm.loyalty"}


def test_rules_deliver_through_queues_to_both_consumers(ran):
    cloud, _ = ran
    ok = Counter(r.logical_id for r in cloud.invocations if r.outcome == "ok")
    # three purchases, one SQS-triggered invocation or more per consumer (batches may group them)
    assert ok["MembersOnPurchaseRecordedFunction"] >= 1
    assert ok["CampaignsOnPurchaseRecordedFunction"] >= 1
    assert ok["LoyaltyStreamPublisherFunction"] >= 1
    triggers = {r.logical_id: r.trigger for r in cloud.invocations}
    assert triggers["MembersOnPurchaseRecordedFunction"] == "sqs"
    assert triggers["LoyaltyStreamPublisherFunction"] == "stream"


def test_the_nightly_schedule_fires_once_per_night_in_the_mall_time_zone(ran):
    cloud, _ = ran
    runs = [r for r in cloud.invocations if r.logical_id == "MembersScoringFunction"]
    assert all(r.trigger == "schedule" for r in runs)
    assert 105 <= len(runs) <= 108, len(runs)  # 107 virtual days, one run a night
    # 02:00 Asia/Shanghai is 18:00 UTC the day before.
    assert {(r.at.hour, r.at.minute) for r in runs} == {(18, 0)}


def test_scoring_publishes_only_changes_and_high_risk_starts_one_episode_each(ran):
    cloud, result = ran
    scored = [e["detail"]["data"] for e in cloud.events if e["detail-type"] == "MemberProfileScored"]
    highs = [d["member_id"] for d in scored if d["churn_risk"] == "high"]
    assert sorted(highs) == sorted(result.members.values())
    executions = cloud.executions("ChurnWarningStateMachine")
    assert len(executions) == 3
    assert {e["status"] for e in executions} == {"SUCCEEDED"}


def test_the_multi_day_wait_ends_in_returned_and_dormant_and_no_consent_is_skipped(ran):
    _, result = ran
    assert result.executions_page is not None
    status, page = result.executions_page
    assert status == 200, page
    outcomes = {item["member_id"]: (item["status"], item["outcome"]) for item in page["items"]}
    assert outcomes == {
        result.members[flow.DORMANT]: ("completed", "dormant"),
        result.members[flow.RETURNING]: ("completed", "returned"),
        result.members[flow.NO_CONSENT]: ("completed", "skipped_no_consent"),
    }


def test_without_marketing_consent_the_journey_ends_at_once_and_never_waits(ran):
    """Consent enforced where it is used: the member who declined marketing is never contacted —
    the journey stops at CheckConsent, before any contact step (the message itself arrives with
    the campaigns issue), while the consenting members' journeys wait their 14 days."""
    _, result = ran
    assert result.executions_page is not None
    spans = {}
    for item in result.executions_page[1]["items"]:
        started, ended = clock.parse_iso(item["started_at"]), clock.parse_iso(item["ended_at"])
        spans[item["member_id"]] = (ended - started).total_seconds() / flow.DAY
    assert spans[result.members[flow.NO_CONSENT]] < 1 / 24
    assert spans[result.members[flow.DORMANT]] >= 14
    assert spans[result.members[flow.RETURNING]] >= 14


def test_the_staff_api_refuses_anonymous_and_wrong_role(ran):
    _, result = ran
    assert result.anonymous_status == 401
    assert result.store_staff_status == 403


def test_nothing_ended_in_a_dead_letter_queue(ran):
    cloud, _ = ran
    sqs = cloud.client("sqs")
    for logical_id, resource in cloud.provisioned.items():
        # A queue whose Condition is false locally (e.g. the SMS receipts' DLQ, AWS channels only) is
        # not created, so there is nothing to read.
        if logical_id.endswith("DLQ") and resource.type == "AWS::SQS::Queue" and resource.status != "skipped":
            attrs = sqs.get_queue_attributes(
                QueueUrl=resource.physical_id, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            assert attrs["ApproximateNumberOfMessages"] == "0", logical_id
