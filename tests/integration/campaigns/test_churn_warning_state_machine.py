"""The ChurnWarning definition (infra/statemachines/churn_warning.asl.json) run path by path on
moto's Step Functions interpreter, its Lambda tasks dispatched in-process to the campaigns task
handlers: returned, dormant, escalated (high value, still away: ChurnRiskEscalated), skipped for
want of marketing consent (never granted, or withdrawn), skipped after a recent contact, the
win-back message queued for dispatch, and a failing task caught and recorded as failed."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.dal.privacy import DynamoConsentProjection
from services.campaigns.dal.projection import DynamoLastPurchaseRepository
from services.campaigns.handlers import (
    sfn_check_consent,
    sfn_check_returned,
    sfn_contact,
    sfn_record_outcome,
    sfn_record_start,
)
from services.campaigns.logic.churn_warning import JOURNEY, execution_input, execution_name
from services.campaigns.logic.privacy import ConsentFact
from services.campaigns.models.entities import Episode
from shared import aws as shared_aws
from shared import clock
from tests.integration.campaigns.conftest import TABLE, churn_warning_definition
from tests.integration.conftest import BASE_ENV
from tests.integration.helpers import ACCOUNT, FakeContext, aws, create_table

MEMBER = "01HX9ZK3M5N7P9Q1R3S5T7V9WX"
EPISODE = "01J1111111111111111111111A"
STARTED = datetime(2026, 6, 30, 18, 5, tzinfo=UTC)

Handler = Callable[[dict[str, Any], Any], Any]
TASKS: dict[str, Handler] = {
    "mallcrm-test-campaigns-journey-record-start": sfn_record_start.handler,
    "mallcrm-test-campaigns-journey-check-returned": sfn_check_returned.handler,
    "mallcrm-test-campaigns-journey-check-consent": sfn_check_consent.handler,
    "mallcrm-test-campaigns-journey-record-outcome": sfn_record_outcome.handler,
    "mallcrm-test-campaigns-journey-contact": sfn_contact.handler,
}
QUEUE = "mallcrm-test-campaigns-dispatch"


def _in_process(self: LambdaFunction, event: str | dict[str, Any] | None = None) -> tuple[str, bool, str]:
    """Run the task handler here instead of in Docker; an exception becomes Lambda's error payload."""
    payload = event if isinstance(event, dict) else json.loads(event or "{}")
    try:
        result = TASKS[self.function_name](payload, FakeContext(function_name=self.function_name))
    except Exception as exc:
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""
    return json.dumps(result), False, ""


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {**BASE_ENV, "TABLE_NAME": TABLE, "SERVICE_NAME": "campaigns"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", _in_process)
    shared_aws.reset_clients()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        create_table(TABLE, gsi1=True)
        monkeypatch.setenv("DISPATCH_QUEUE_URL", aws("sqs").create_queue(QueueName=QUEUE)["QueueUrl"])
        monkeypatch.setenv("WIN_BACK_COUPON_TEMPLATE_ID", "win-back")
        role = aws("iam").create_role(
            RoleName="task", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
        )["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("handler.py", "def handler(event, context):\n    return event\n")
        for name in TASKS:
            aws("lambda").create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="handler.handler",
                Code={"ZipFile": archive.getvalue()},
            )
        yield aws("stepfunctions").create_state_machine(
            name="churn-warning",
            definition=churn_warning_definition(),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        )["stateMachineArn"]
    shared_aws.reset_clients()
    clock.set_clock(None)


def consent(granted: bool, at: datetime, event_id: str, channel: str = "wechat") -> None:
    fact = ConsentFact(
        member_id=MEMBER,
        purpose="marketing",
        channel=channel,
        granted=granted,
        changed_at=at,
        text_version="mkt-1",
        event_id=event_id,
    )
    DynamoConsentProjection(TABLE).store_if_newer(fact, "anon_nobody")


def states_entered(result: dict[str, Any]) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in result["history"] if "stateEnteredEventDetails" in e
    ]


def run(machine: str, value_level: str = "medium") -> dict[str, Any]:
    episode = Episode(
        episode_id=EPISODE,
        journey=JOURNEY,
        member_id=MEMBER,
        status="starting",
        started_at=STARTED,
        execution_name=execution_name(EPISODE),
        trigger_value_level=value_level,
    )
    DynamoEpisodeRepository(TABLE).open(episode)
    sfn = aws("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=machine, name=episode.execution_name, input=json.dumps(execution_input(episode, 0))
    )["executionArn"]
    for _ in range(200):
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            described["history"] = sfn.get_execution_history(executionArn=arn)["events"]
            return described
        time.sleep(0.02)
    raise AssertionError("the execution did not finish")


def stored() -> Episode:
    found = DynamoEpisodeRepository(TABLE).get(EPISODE)
    assert found is not None
    return found


def test_member_who_came_back_is_recorded_as_returned(machine: str) -> None:
    consent(True, STARTED - timedelta(days=30), "E1")
    DynamoLastPurchaseRepository(TABLE).advance(MEMBER, STARTED + timedelta(days=2), "P1")

    result = run(machine)

    assert result["status"] == "SUCCEEDED", json.dumps(
        [e for e in result["history"] if "Failed" in e["type"]], default=str
    )[:1500]
    assert json.loads(result["output"])["result"] == {"status": "completed", "outcome": "returned"}
    episode = stored()
    assert (episode.status, episode.outcome, episode.execution_id) == (
        "completed",
        "returned",
        result["executionArn"],
    )


def test_member_who_stayed_away_is_recorded_as_dormant(machine: str) -> None:
    consent(True, STARTED - timedelta(days=30), "E1", channel="sms")
    DynamoLastPurchaseRepository(TABLE).advance(MEMBER, STARTED - timedelta(days=90), "P0")

    result = run(machine)

    assert result["status"] == "SUCCEEDED"
    assert (stored().outcome, stored().last_purchase_at) == ("dormant", STARTED - timedelta(days=90))


def test_a_failing_task_is_caught_and_recorded_as_failed(
    machine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: dict[str, Any], context: Any) -> Any:
        raise RuntimeError("projection unavailable")

    monkeypatch.setitem(TASKS, "mallcrm-test-campaigns-journey-check-returned", broken)
    consent(True, STARTED - timedelta(days=30), "E1")

    result = run(machine)

    assert result["status"] == "FAILED"
    episode = stored()
    assert (episode.status, episode.outcome, episode.error) == ("failed", "failed", "RuntimeError")


def test_without_marketing_consent_the_episode_ends_skipped_and_never_waits(machine: str) -> None:
    DynamoLastPurchaseRepository(TABLE).advance(MEMBER, STARTED - timedelta(days=90), "P0")

    result = run(machine)

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["result"] == {"status": "completed", "outcome": "skipped_no_consent"}
    entered = states_entered(result)
    assert "CheckConsent" in entered
    assert "Observe" not in entered and "CheckReturned" not in entered
    assert (stored().status, stored().outcome) == ("completed", "skipped_no_consent")


def test_a_withdrawn_marketing_consent_stops_the_journey_before_any_contact(machine: str) -> None:
    """The consent-enforcement proof for now: the journey's contact steps (the message comes with
    the campaigns issue) sit after CheckConsent, and a withdrawal (a newer event) keeps it from
    going on; an older grant delivered late does not revive it."""
    consent(True, STARTED - timedelta(days=30), "E1")
    consent(False, STARTED - timedelta(days=1), "E2")
    consent(True, STARTED - timedelta(days=20), "E0")  # out of order: older than the withdrawal

    result = run(machine)

    assert json.loads(result["output"])["consent"] == {"allowed": False, "channels": []}
    assert "Observe" not in states_entered(result)
    assert stored().outcome == "skipped_no_consent"


def queued() -> list[dict[str, Any]]:
    url = aws("sqs").get_queue_url(QueueName=QUEUE)["QueueUrl"]
    messages = aws("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def outbox(detail_type: str) -> list[dict[str, Any]]:
    from tests.integration.helpers import all_items

    return [
        json.loads(i["detail"])["data"]
        for i in all_items(TABLE)
        if i.get("entity") == "outbox" and i["detail_type"] == detail_type
    ]


def test_the_win_back_message_is_queued_for_dispatch_with_its_coupon(machine: str) -> None:
    consent(True, STARTED - timedelta(days=30), "E1", channel="sms")
    DynamoLastPurchaseRepository(TABLE).advance(MEMBER, STARTED + timedelta(days=2), "P1")

    result = run(machine)

    assert result["status"] == "SUCCEEDED"
    [request] = queued()
    assert request["send_id"] == f"jrn#churn_warning#{EPISODE}"
    assert (request["journey"], request["member_id"], request["kind"]) == (
        "churn_warning",
        MEMBER,
        "marketing",
    )
    assert request["offer"] == {"type": "coupon", "template_id": "win-back"}
    assert "SendWinBack" in states_entered(result)


def test_a_high_value_member_who_stays_away_is_escalated_once(machine: str) -> None:
    consent(True, STARTED - timedelta(days=30), "E1", channel="sms")
    DynamoLastPurchaseRepository(TABLE).advance(MEMBER, STARTED - timedelta(days=90), "P0")

    result = run(machine, value_level="high")

    assert result["status"] == "SUCCEEDED", result.get("error")
    assert stored().outcome == "escalated"
    [event] = outbox("ChurnRiskEscalated")
    assert (event["member_id"], event["value_level"]) == (MEMBER, "high")
    assert event["journey_execution_id"] == execution_name(EPISODE)
    assert event["recency_days"] >= 90
    # A retried escalation task writes nothing more.
    again = sfn_contact.handler(
        {"action": "escalate", "episode_id": EPISODE, "member_id": MEMBER, "execution_name": "x"},
        FakeContext(),
    )
    assert again["escalated"] is True
    assert len(outbox("ChurnRiskEscalated")) == 1


def test_a_member_contacted_recently_is_not_contacted_again(machine: str) -> None:
    consent(True, STARTED - timedelta(days=30), "E1", channel="sms")
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"MEMBER#{MEMBER}"},
            "sk": {"S": "LAST_CONTACT"},
            "contacted_at": {"S": clock.to_utc_iso(datetime.now(UTC) - timedelta(days=2))},
        },
    )

    result = run(machine)

    assert result["status"] == "SUCCEEDED", [e for e in result["history"] if "Failed" in e["type"]]
    assert stored().outcome == "skipped_recent_contact"
    assert "SendWinBack" not in states_entered(result)
    assert queued() == []
