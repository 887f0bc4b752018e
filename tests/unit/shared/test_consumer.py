from __future__ import annotations

import json
from typing import Any

from shared.consumer import process_event_batch, typed
from shared.events import EventMetadata, MemberProfileScored, PurchaseRecorded
from shared.events.samples import sample_event
from tests.unit.shared.helpers import sqs_event


class Recorder:
    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.fail_on = fail_on or set()

    def __call__(self, metadata: EventMetadata, data: dict[str, Any]) -> None:
        if data.get("external_id") in self.fail_on:
            raise RuntimeError("downstream unavailable")
        self.seen.append((metadata.event_id, data))


def test_given_routed_events_then_each_route_gets_metadata_and_data():
    recorder = Recorder()
    batch = sqs_event([sample_event("PurchaseRecorded"), sample_event("PurchaseRecorded")])
    result = process_event_batch(batch, None, {"PurchaseRecorded": recorder})
    assert result == {"batchItemFailures": []}
    assert len(recorder.seen) == 2
    assert recorder.seen[0][1]["amount_cents"] == 25900


def test_given_a_failing_handler_then_only_that_record_fails():
    recorder = Recorder(fail_on={"POS-2"})
    bodies = [sample_event("PurchaseRecorded", {"external_id": f"POS-{i}"}) for i in range(4)]
    result = process_event_batch(sqs_event(bodies), None, {"PurchaseRecorded": recorder})
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-2"}]}
    assert len(recorder.seen) == 3


def test_given_every_record_fails_then_all_are_reported_not_raised():
    recorder = Recorder(fail_on={"POS-0", "POS-1"})
    bodies = [sample_event("PurchaseRecorded", {"external_id": f"POS-{i}"}) for i in range(2)]
    result = process_event_batch(sqs_event(bodies), None, {"PurchaseRecorded": recorder})
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["msg-0", "msg-1"]


def test_an_unknown_detail_type_is_acknowledged_not_retried():
    recorder = Recorder()
    result = process_event_batch(
        sqs_event([sample_event("TierChanged")]), None, {"PurchaseRecorded": recorder}
    )
    assert result == {"batchItemFailures": []}
    assert recorder.seen == []


def test_a_message_that_is_not_an_event_fails_into_the_dlq_path():
    result = process_event_batch(
        sqs_event(["{not json", json.dumps({"detail-type": "PurchaseRecorded"})]),
        None,
        {"PurchaseRecorded": Recorder()},
    )
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["msg-0", "msg-1"]


def test_typed_routes_parse_tolerantly_into_the_model():
    seen: list[MemberProfileScored] = []
    event = sample_event("MemberProfileScored")
    event["detail"]["data"]["brand_new_field"] = 1
    result = process_event_batch(
        sqs_event([event]),
        None,
        {"MemberProfileScored": typed(MemberProfileScored, lambda m, e: seen.append(e))},
    )
    assert result == {"batchItemFailures": []}
    assert seen[0].churn_risk == "high"


def test_typed_routes_fail_on_another_event_version():
    event = sample_event("PurchaseRecorded")
    event["detail"]["metadata"]["event_version"] = 2
    route = typed(PurchaseRecorded, lambda m, e: None)
    result = process_event_batch(sqs_event([event]), None, {"PurchaseRecorded": route})
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
