"""A breaking change to an event needs a new VERSION (and a snapshot for it)."""

from __future__ import annotations

import copy

import pytest

from shared.events import ALL_EVENTS
from shared.events.catalogue import detail_schema
from tests.contract.schema_snapshots import breaking_changes, compare, snapshot_path

EVENTS = sorted(ALL_EVENTS)


@pytest.mark.parametrize("detail_type", EVENTS)
def test_every_event_version_has_a_snapshot(detail_type):
    path = snapshot_path(ALL_EVENTS[detail_type])
    assert path.exists(), (
        f"no snapshot for {path.name}: run `PYTHONPATH=. python -m tests.contract.schema_snapshots record`"
    )


@pytest.mark.parametrize("detail_type", EVENTS)
def test_the_model_is_backward_compatible_with_its_snapshot(detail_type):
    problems = compare(ALL_EVENTS[detail_type])
    assert problems == [], (
        f"{detail_type} changed incompatibly; bump its VERSION and record a snapshot:\n" + "\n".join(problems)
    )


# --- the rules themselves, on a real schema ----------------------------------------------------


def _current():
    schema = detail_schema(ALL_EVENTS["PurchaseRecorded"])
    return schema, copy.deepcopy(schema)


def _changes(old, new):
    return breaking_changes(old, new, old["$defs"], new["$defs"])


def test_identical_schemas_are_compatible():
    old, new = _current()
    assert _changes(old, new) == []


def test_a_removed_field_is_breaking():
    old, new = _current()
    del new["$defs"]["PurchaseRecorded"]["properties"]["store_id"]
    assert _changes(old, new) == ["data.store_id: removed"]


def test_a_type_change_is_breaking():
    old, new = _current()
    new["$defs"]["PurchaseRecorded"]["properties"]["amount_cents"] = {"type": "string"}
    assert _changes(old, new) == ["data.amount_cents: now also accepts string (was integer)"]


def test_a_nested_type_change_is_breaking():
    old, new = _current()
    new["$defs"]["PurchaseItem"]["properties"]["quantity"] = {"type": "number"}
    assert _changes(old, new) == ["data.items[].quantity: now also accepts number (was integer)"]


def test_making_a_field_nullable_or_optional_is_breaking():
    old, new = _current()
    props = new["$defs"]["PurchaseRecorded"]["properties"]
    props["store_id"] = {"anyOf": [props["store_id"], {"type": "null"}]}
    new["$defs"]["PurchaseRecorded"]["required"].remove("channel")
    assert sorted(_changes(old, new)) == [
        "data.channel: no longer required",
        "data.store_id: now also accepts null (was string)",
    ]


def test_an_added_enum_value_is_breaking_and_a_removed_one_is_not():
    old, new = _current()
    channel = new["$defs"]["PurchaseRecorded"]["properties"]["channel"]
    channel["enum"] = [*channel["enum"], "kiosk"]
    assert _changes(old, new) == ['data.channel: enum values added "kiosk"']
    channel["enum"] = ["pos"]
    assert _changes(old, new) == []


def test_a_new_field_is_compatible():
    old, new = _current()
    new["$defs"]["PurchaseRecorded"]["properties"]["campaign_id"] = {"type": "string"}
    assert _changes(old, new) == []
