"""Rules every event model keeps (DESIGN §3, docs/architecture.md)."""

from __future__ import annotations

import re

import pytest

from shared.events import ALL_EVENTS, SOURCES, consume
from shared.events.samples import sample_detail, sample_event

EVENTS = sorted(ALL_EVENTS)

# Field names that would carry personal data: events carry ids only.
PII_WORDS = {
    "phone",
    "mobile",
    "name",
    "email",
    "openid",
    "unionid",
    "plate",
    "plates",
    "address",
    "birthday",
}


@pytest.mark.parametrize("detail_type", EVENTS)
def test_name_source_version_and_docstring(detail_type):
    model = ALL_EVENTS[detail_type]
    assert model.detail_type() == model.__name__ == detail_type
    assert re.fullmatch(r"(?:[A-Z][a-z0-9]+)+", detail_type), "PascalCase"
    assert model.SOURCE in SOURCES
    assert model.VERSION >= 1
    assert (model.__doc__ or "").strip(), "the docstring is the catalogue description"


@pytest.mark.parametrize("detail_type", EVENTS)
def test_example_is_valid_and_round_trips_through_the_consumer(detail_type):
    model = ALL_EVENTS[detail_type]
    assert model.EXAMPLE, "EXAMPLE feeds samples, schemas and rule-pattern tests"
    detail = sample_detail(detail_type)
    metadata, data = consume(model, detail)
    assert data == model.model_validate(model.EXAMPLE)
    assert metadata.event_version == model.VERSION


# Named exceptions, each with its reason. MemberBirthdayToday.birthday_on (contract F, fixed in the
# session-3 brief): the event *is* "it is the member's birthday"; the field is this year's date of
# the celebration (month-day), never the date of birth (no year of birth).
NOT_PII = {("MemberBirthdayToday", "birthday_on")}


@pytest.mark.parametrize("detail_type", EVENTS)
def test_no_personal_data_fields(detail_type):
    model = ALL_EVENTS[detail_type]
    for name in model.model_fields:
        if (detail_type, name) in NOT_PII:
            continue
        words = set(name.split("_"))
        assert not words & PII_WORDS and "id_card" not in name, (
            f"{detail_type}.{name} looks like personal data"
        )


@pytest.mark.parametrize("detail_type", EVENTS)
def test_no_floats_for_money(detail_type):
    schema = ALL_EVENTS[detail_type].model_json_schema()
    text = str(schema)
    assert "'type': 'number'" not in text, "money is integer cents; use int"


@pytest.mark.parametrize("detail_type", EVENTS)
def test_sample_event_has_the_eventbridge_shape(detail_type):
    event = sample_event(detail_type)
    assert set(event) >= {"version", "id", "detail-type", "source", "time", "detail"}
    assert event["source"] == ALL_EVENTS[detail_type].SOURCE
