"""The envelope's text is the same whichever way it is built.

``EventData.detail_json`` and :func:`shared.outbox.outbox_item` build the ``detail`` string
around pydantic's ``model_dump_json`` and a hand-made metadata dict (session 5: about a third of
the previous cost per event). Consumers, the stream publisher and the rule patterns see that text,
so it must stay byte for byte what the previous route gave: ``json.dumps`` of
``{"metadata": metadata.model_dump(mode="json"), "data": data.model_dump(mode="json")}`` with
``separators=(",", ":")`` and ``ensure_ascii=False`` — checked here over every event's example
(the catalogue's and the samples' source), over the same examples with their free-text fields
full of quotes, escapes, control characters and non-ASCII text, and over every Unicode
character a valid event can hold.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from shared import ids
from shared.events import envelope
from shared.events.base import all_events
from shared.events.contracts import EventData, MemberRegistered, NotificationRequested, PurchaseRecorded
from shared.events.envelope import EventMetadata
from shared.events.samples import sample_data
from shared.outbox import OUTBOX_ENTITY, OUTBOX_TTL, outbox_item

NOW = datetime(2026, 11, 23, 9, 30, 1, 123456, tzinfo=UTC)
SHANGHAI = timezone(timedelta(hours=8))
AWKWARD = 'Zoë "quoted" \\ back/slash \n\t\r\b\f \x00\x01\x1f\x7f \u2028\u2029 中文 \U0001f600'
EVENT_ID = "01HZ5555555555555555555555"


def previous_detail(data: EventData, metadata: EventMetadata) -> str:
    """``detail_json`` as it was before session 5."""
    return json.dumps(
        {"metadata": metadata.model_dump(mode="json"), "data": data.model_dump(mode="json")},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def previous_outbox_item(
    data: EventData, *, correlation_id: str, producer: str, now: datetime
) -> dict[str, Any]:
    """``outbox_item`` as it was before session 5."""
    metadata = data.new_metadata(correlation_id=correlation_id, producer=producer, occurred_at=now)
    return {
        "pk": f"OUTBOX#{metadata.event_id}",
        "sk": "OUTBOX",
        "entity": OUTBOX_ENTITY,
        "event_id": metadata.event_id,
        "source": data.SOURCE,
        "detail_type": data.detail_type(),
        "detail": previous_detail(data, metadata),
        "ttl": int((now + OUTBOX_TTL).timestamp()),
    }


def _awkward(model: type[EventData], example: dict[str, Any]) -> dict[str, Any]:
    """The example with every string the model accepts replaced by awkward text (cut to fit)."""
    result = dict(example)
    for name, value in example.items():
        if not isinstance(value, str):
            continue
        for text in (AWKWARD, AWKWARD[:60], "中文" * 3, "é"):
            try:
                model.model_validate({**result, name: text})
            except ValidationError:
                continue
            result[name] = text
            break
    return result


def every_example() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for name, model in sorted(all_events().items()):
        cases.append((name, sample_data(name)))
        cases.append((f"{name}-awkward", _awkward(model, model.EXAMPLE)))
    return cases


EXAMPLES = every_example()


def test_every_event_has_an_example_and_some_get_awkward_text() -> None:
    assert len(EXAMPLES) == 2 * len(all_events())
    awkward = [data for name, data in EXAMPLES if name.endswith("-awkward")]
    assert sum(AWKWARD in data.values() for data in awkward) >= 10  # free-text fields of 128+ characters


@pytest.mark.parametrize(("name", "data"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
@pytest.mark.parametrize(
    ("correlation_id", "producer", "occurred_at"),
    [
        ("req-1", "LoyaltyApiFunction", NOW),
        (AWKWARD, '生产者 "p"', datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI)),
        ("c" * 128, "p", datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_detail_json_is_the_previous_text(
    name: str, data: dict[str, Any], correlation_id: str, producer: str, occurred_at: datetime
) -> None:
    model = all_events()[name.removesuffix("-awkward")]
    event = model.model_validate(data)
    metadata = event.new_metadata(correlation_id=correlation_id, producer=producer, occurred_at=occurred_at)
    assert event.detail_json(metadata) == previous_detail(event, metadata)


@pytest.mark.parametrize(("name", "data"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_outbox_item_is_the_previous_item(
    name: str, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (ids, envelope):  # the same event id for both routes
        monkeypatch.setattr(module, "new_ulid", lambda at=None: EVENT_ID)
    event = all_events()[name.removesuffix("-awkward")].model_validate(data)
    for correlation_id, now in (("req-1", NOW), (AWKWARD, datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI))):
        mine = outbox_item(event, correlation_id=correlation_id, producer="P", now=now)
        assert mine == previous_outbox_item(event, correlation_id=correlation_id, producer="P", now=now)


def test_every_character_an_event_can_hold_is_written_as_before() -> None:
    metadata = MemberRegistered.model_validate(MemberRegistered.EXAMPLE).new_metadata(
        correlation_id="c", producer="p", occurred_at=NOW
    )
    # Every code point but the surrogates, which a str field refuses.
    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(characters), 1000):
        event = NotificationRequested.model_validate(
            {**NotificationRequested.EXAMPLE, "body": "".join(characters[start : start + 1000])}
        )
        assert event.detail_json(metadata) == previous_detail(event, metadata), hex(start)


@pytest.mark.parametrize(
    ("correlation_id", "producer", "now"),
    [
        ("", "p", NOW),
        ("c" * 129, "p", NOW),
        ("c", "", NOW),
        (7, "p", NOW),
        ("c", "p", datetime(2026, 11, 23, 9, 30)),
    ],
)
def test_metadata_the_model_refuses_is_still_refused(
    correlation_id: Any, producer: str, now: datetime
) -> None:
    event = PurchaseRecorded.model_validate(PurchaseRecorded.EXAMPLE)
    with pytest.raises(ValidationError):
        event.new_metadata(correlation_id=correlation_id, producer=producer, occurred_at=now)
    with pytest.raises(ValidationError):
        outbox_item(event, correlation_id=correlation_id, producer=producer, now=now)


def test_an_id_the_model_would_convert_takes_the_models_route() -> None:
    class Text(str):
        pass

    event = PurchaseRecorded.model_validate(PurchaseRecorded.EXAMPLE)
    item = outbox_item(event, correlation_id=Text("req-1"), producer="p", now=NOW)
    assert json.loads(item["detail"])["metadata"]["correlation_id"] == "req-1"
