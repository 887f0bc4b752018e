"""Campaigns handlers run against a moto CampaignsTable and a ChurnWarning state machine made
from the real definition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import ACCOUNT, REGION, aws, create_table

TABLE = "mallcrm-test-campaigns"
ASL = Path(__file__).resolve().parents[3] / "infra" / "statemachines" / "churn_warning.asl.json"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def churn_warning_definition() -> str:
    text = ASL.read_text()
    for placeholder, name in {
        "${RecordStartFunctionArn}": "mallcrm-test-campaigns-journey-record-start",
        "${CheckReturnedFunctionArn}": "mallcrm-test-campaigns-journey-check-returned",
        "${CheckConsentFunctionArn}": "mallcrm-test-campaigns-journey-check-consent",
        "${RecordOutcomeFunctionArn}": "mallcrm-test-campaigns-journey-record-outcome",
        "${ContactFunctionArn}": "mallcrm-test-campaigns-journey-contact",
    }.items():
        text = text.replace(placeholder, function_arn(name))
    return text


@pytest.fixture
def campaigns(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The state machine's ARN; the table exists and the environment is set."""
    create_table(TABLE, gsi1=True)
    machine = aws("stepfunctions").create_state_machine(
        name="mallcrm-test-churn-warning",
        definition=churn_warning_definition(),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/churn-warning",
    )["stateMachineArn"]
    for name, value in {
        "SERVICE_NAME": "campaigns",
        "POWERTOOLS_SERVICE_NAME": "campaigns",
        "TABLE_NAME": TABLE,
        "STATE_MACHINE_ARN": machine,
    }.items():
        monkeypatch.setenv(name, value)
    yield machine
