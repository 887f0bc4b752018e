"""Starting Step Functions executions (the only boto3 user for them)."""

from __future__ import annotations

import json
from typing import Any

from shared.aws import client


class StepFunctionsStarter:
    """:class:`~services.campaigns.logic.churn_warning.ExecutionStarter` on Step Functions."""

    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> None:
        sfn = client("stepfunctions")
        try:
            sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload))
        except sfn.exceptions.ExecutionAlreadyExists:
            return  # started before (a redelivered event): the name makes the start idempotent
