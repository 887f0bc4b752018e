from __future__ import annotations

import json

import pytest

from shared import aws
from shared.events import EventMetadata, PublishError, PurchaseRecorded, publish
from shared.events.publisher import build_entry, put_entries
from tests.unit.shared.aws_fakes import BUS, RecordingEventsClient

pytestmark = pytest.mark.usefixtures("bus")


def events(count: int) -> list[tuple[PurchaseRecorded, EventMetadata]]:
    result = []
    for index in range(count):
        data = PurchaseRecorded.model_validate({**PurchaseRecorded.EXAMPLE, "external_id": f"POS-{index}"})
        result.append((data, data.new_metadata(correlation_id="c-1", producer="test")))
    return result


def test_given_25_events_then_3_calls_and_all_delivered(bus):
    client = RecordingEventsClient(aws.client("events"))
    publish(events(25), bus_name=BUS, client=client)
    assert [len(call) for call in client.calls] == [10, 10, 5]
    received = bus.received()
    assert len(received) == 25
    assert {r["detail"]["data"]["external_id"] for r in received} == {f"POS-{i}" for i in range(25)}


def test_entries_carry_source_detail_type_and_envelope(bus):
    ((data, metadata),) = events(1)
    publish([(data, metadata)], bus_name=BUS)
    (event,) = bus.received()
    assert event["source"] == "mallcrm.loyalty"
    assert event["detail-type"] == "PurchaseRecorded"
    assert event["detail"]["metadata"]["event_id"] == metadata.event_id
    assert event["detail"]["data"]["purchase_id"] == data.purchase_id


def test_the_trace_header_is_propagated(monkeypatch):
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
    ((data, metadata),) = events(1)
    client = RecordingEventsClient(aws.client("events"))
    publish([(data, metadata)], bus_name=BUS, client=client)
    assert client.calls[0][0]["TraceHeader"].startswith("Root=1-5759e988")


def test_no_trace_header_outside_lambda(monkeypatch):
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    entry = build_entry(source="mallcrm.loyalty", detail_type="X", detail="{}", bus_name=BUS)
    assert "TraceHeader" not in entry


def test_given_failed_entries_then_publish_error_lists_them(bus):
    client = RecordingEventsClient(aws.client("events"), fail_indexes={3, 12})
    with pytest.raises(PublishError) as caught:
        publish(events(15), bus_name=BUS, client=client)
    assert [f.index for f in caught.value.failed] == [3, 12]
    assert caught.value.failed[0].error_code == "ThrottlingException"
    assert "2 event(s) not published" in str(caught.value)
    assert len(bus.received()) == 13  # the others did go out


def test_put_entries_reports_what_eventbridge_itself_rejected():
    good = build_entry(source="mallcrm.loyalty", detail_type="X", detail=json.dumps({"a": 1}), bus_name=BUS)
    bad = build_entry(source="mallcrm.loyalty", detail_type="X", detail="not json", bus_name=BUS)
    failed = put_entries([good, bad, good])
    assert [(f.index, f.error_code) for f in failed] == [(1, "MalformedDetail")]


def test_publishing_nothing_makes_no_call():
    client = RecordingEventsClient(aws.client("events"))
    publish([], bus_name=BUS, client=client)
    assert client.calls == []
