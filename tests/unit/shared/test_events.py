"""Envelope, contracts and the tolerant consumer side."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.events import (
    ALL_EVENTS,
    LOYALTY,
    Envelope,
    EventMetadata,
    PurchaseItem,
    PurchaseRecorded,
    UnknownEventType,
    UnsupportedEventVersion,
    consume,
    model_for,
    parse_data,
)
from shared.events.samples import sample_data, sample_detail, sample_event
from shared.ids import is_ulid


def purchase(**changes: Any) -> PurchaseRecorded:
    return PurchaseRecorded.model_validate({**PurchaseRecorded.EXAMPLE, **changes})


def test_metadata_new_mints_a_ulid_and_uses_the_clock(fake_clock):
    metadata = EventMetadata.new(event_version=1, correlation_id="req-1", producer="loyalty-api")
    assert is_ulid(metadata.event_id)
    assert metadata.occurred_at == fake_clock.current


def test_envelope_json_shape(fake_clock):
    data = purchase()
    metadata = data.new_metadata(correlation_id="req-1", producer="LoyaltyApiFunction")
    detail = json.loads(data.detail_json(metadata))
    assert set(detail) == {"metadata", "data"}
    assert detail["metadata"] == {
        "event_id": metadata.event_id,
        "event_version": 1,
        "correlation_id": "req-1",
        "occurred_at": "2024-05-01T04:00:00.000000Z",
        "producer": "LoyaltyApiFunction",
    }
    assert detail["data"]["amount_cents"] == 25900
    assert detail["data"]["occurred_at"] == "2024-05-01T04:00:00.000000Z"
    assert detail["data"]["items"] == [
        {"sku": "SKU-1", "category": "apparel", "quantity": 1, "amount_cents": 25900}
    ]
    # The typed envelope reads the same JSON back.
    envelope = Envelope[PurchaseRecorded].model_validate(detail)
    assert envelope.data == data
    assert envelope.metadata == metadata


def test_datetimes_are_normalised_to_utc():
    data = purchase(occurred_at="2024-05-01T12:00:00+08:00")
    assert data.occurred_at == datetime(2024, 5, 1, 4, tzinfo=UTC)
    assert data.occurred_at.tzinfo is UTC


def test_naive_datetimes_are_refused():
    with pytest.raises(ValidationError):
        purchase(occurred_at="2024-05-01T12:00:00")


def test_producers_are_strict_about_unknown_fields_and_floats():
    with pytest.raises(ValidationError):
        purchase(amount_cnets=1)
    with pytest.raises(ValidationError):
        purchase(amount_cents=259.5)
    with pytest.raises(ValidationError):
        PurchaseItem(sku="x", category="y", quantity=1, amount_cents=1, colour="red")  # type: ignore[call-arg]  # the unknown field is the point


def test_detail_type_is_the_class_name_and_source_a_constant():
    assert PurchaseRecorded.detail_type() == "PurchaseRecorded"
    assert PurchaseRecorded.SOURCE == LOYALTY == "mallcrm.loyalty"
    assert model_for("PurchaseRecorded") is PurchaseRecorded
    with pytest.raises(UnknownEventType):
        model_for("NoSuchEvent")


def test_registry_holds_at_least_the_first_flow_events():
    required = {
        "PurchaseRecorded",
        "PurchaseRefunded",
        "MemberRegistered",
        "MemberProfileScored",
        "MemberErased",
        "MemberConsentChanged",
        "PointsEarned",
        "TierChanged",
        "ChurnRiskEscalated",
        "TicketResolved",
    }
    assert required <= set(ALL_EVENTS)


def test_consumers_are_tolerant_of_unknown_keys_at_every_level():
    detail = sample_detail("PurchaseRecorded")
    detail["metadata"]["new_metadata_field"] = "x"
    detail["data"]["loyalty_program"] = "gold"
    detail["data"]["items"][0]["colour"] = "red"
    metadata, data = consume(PurchaseRecorded, detail)
    assert data.amount_cents == 25900
    assert metadata.event_version == 1
    assert consume(PurchaseRecorded, json.dumps(detail))[1] == data
    assert parse_data(PurchaseRecorded, detail["data"]) == data


def test_consumers_refuse_another_version():
    detail = sample_detail("PurchaseRecorded")
    detail["metadata"]["event_version"] = 2
    with pytest.raises(UnsupportedEventVersion):
        consume(PurchaseRecorded, detail)


def test_samples_are_valid_eventbridge_events():
    event = sample_event("MemberProfileScored", {"churn_risk": "low"})
    assert event["source"] == "mallcrm.members"
    assert event["detail-type"] == "MemberProfileScored"
    assert event["detail"]["data"]["churn_risk"] == "low"
    assert sample_data("TierChanged")["new_tier"] == "gold"
    with pytest.raises(ValidationError):
        sample_data("TierChanged", {"direction": "sideways"})


def test_defining_an_event_without_a_known_source_fails():
    from shared.events import EventData

    with pytest.raises(TypeError, match="SOURCE"):

        class Orphan(EventData):  # pragma: no cover - the class statement itself must fail
            SOURCE = "mallcrm.nobody"
