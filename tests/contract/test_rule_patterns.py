"""Every consumer's EventBridge rule matches what the producer really sends (and only that).

The blind spot this closes: each service's unit tests pass, and the consumer never receives the
event because its rule asks for a source, detail-type or field value the producer does not send.
For every rule in template.yaml and every detail-type it subscribes to:

- the detail-type has a contract model in ``shared.events`` (``model_for``);
- a sample event built from that model (``shared.events.samples.sample_event``: the model's
  ``EXAMPLE``, validated, wrapped as EventBridge delivers it) matches the rule's pattern under moto's
  EventBridge pattern matcher; when the pattern filters on ``detail.data`` fields, the sample takes
  values from the pattern, and the model must accept them (a filter on a field or value the
  contract cannot carry fails here);
- near misses do not match: another detail-type, the same event from another source, and, for a
  content filter on an enumerated field, the same event with a value the filter leaves out.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from moto.events.models import EventPattern
from pydantic import ValidationError

from shared.events import ALL_EVENTS, SOURCES, model_for
from shared.events.samples import sample_event
from tests.infra.template_loader import as_list, cfn_resources, of_type, props


def _subscriptions() -> list[tuple[str, str]]:
    found = []
    for name, rule in sorted(of_type(cfn_resources(), "AWS::Events::Rule").items()):
        pattern = props(rule).get("EventPattern")
        if not pattern:
            continue
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        if all(str(s).startswith("aws.") for s in as_list(pattern.get("source"))):
            continue  # an AWS service's events, not a MallCRM contract: test_aws_event_rules.py
        found += [(name, str(detail_type)) for detail_type in as_list(pattern.get("detail-type"))]
    return found


def _pattern(rule: str) -> dict[str, Any]:
    pattern = props(cfn_resources()[rule])["EventPattern"]
    return json.loads(pattern) if isinstance(pattern, str) else dict(pattern)


def _value_for(filters: list[Any]) -> Any:
    """A value that passes one pattern leaf (a list of alternatives)."""
    for option in filters:
        if option is None or isinstance(option, str | int | float | bool):
            return option
    for option in filters:
        if isinstance(option, dict):
            if "prefix" in option:
                return f"{option['prefix']}sample"
            if "suffix" in option:
                return f"sample{option['suffix']}"
            if "equals-ignore-case" in option:
                return option["equals-ignore-case"]
            if "numeric" in option:
                bounds = option["numeric"]
                low = next((bounds[i + 1] for i, op in enumerate(bounds[::2]) if op in (">=", "=")), None)
                return low if low is not None else 0
    return None


def _is_array(spec: dict[str, Any]) -> bool:
    return spec.get("type") == "array" or any(s.get("type") == "array" for s in spec.get("anyOf", []))


def _overrides(node: Any, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """Data overrides that satisfy the pattern's `detail.data` filters (leaves that name values).

    EventBridge matches a pattern value against each element of an array field, so where the
    contract's field is an array the chosen value is put inside one."""
    result: dict[str, Any] = {}
    if not isinstance(node, dict):
        return result
    for key, value in node.items():
        if key.startswith("$"):
            continue
        if isinstance(value, dict):
            result[key] = _overrides(value)
        elif isinstance(value, list):
            chosen = _value_for(value)
            if chosen is not None:
                result[key] = [chosen] if _is_array((properties or {}).get(key) or {}) else chosen
    return result


def _properties(detail_type: str) -> dict[str, Any]:
    return dict(model_for(detail_type).model_json_schema().get("properties") or {})


def _sample(rule: str, detail_type: str) -> dict[str, Any]:
    data_filter = (_pattern(rule).get("detail") or {}).get("data") or {}
    try:
        return sample_event(detail_type, _overrides(data_filter, _properties(detail_type)))
    except ValidationError as exc:
        contract = f"the {detail_type} contract"
        pytest.fail(f"{rule} filters detail.data on {data_filter}, which {contract} cannot carry:\n{exc}")


def _enum_of(spec: dict[str, Any], schema: dict[str, Any]) -> list[Any] | None:
    """The allowed values of a field, of its array items, or of the definition either refers to."""
    for candidate in [spec, *spec.get("anyOf", [])]:
        for node in (candidate, candidate.get("items") or {}):
            ref = node.get("$ref", "")
            target = (schema.get("$defs") or {}).get(ref.removeprefix("#/$defs/"), {}) if ref else node
            if target.get("enum"):
                return list(target["enum"])
    return None


SUBSCRIPTIONS = _subscriptions()


def test_there_are_subscriptions():
    assert SUBSCRIPTIONS, "no EventBridge rule with an EventPattern in template.yaml"


@pytest.mark.parametrize(("rule", "detail_type"), SUBSCRIPTIONS, ids=[f"{r}-{d}" for r, d in SUBSCRIPTIONS])
def test_the_rule_matches_the_producers_event(rule, detail_type):
    model_for(detail_type)  # UnknownEventType: the rule subscribes to an event nobody defines
    event = _sample(rule, detail_type)
    pattern = EventPattern.load(json.dumps(_pattern(rule)))
    assert pattern.matches_event(cast(Any, event)), (
        f"{rule} does not match a {detail_type} sample:\n{json.dumps(event, indent=1)}"
    )


@pytest.mark.parametrize(("rule", "detail_type"), SUBSCRIPTIONS, ids=[f"{r}-{d}" for r, d in SUBSCRIPTIONS])
def test_the_rule_ignores_near_misses(rule, detail_type):
    raw = _pattern(rule)
    pattern = EventPattern.load(json.dumps(raw))
    event = _sample(rule, detail_type)

    subscribed = set(as_list(raw.get("detail-type")))
    other = next(name for name in sorted(ALL_EVENTS) if name not in subscribed)
    assert not pattern.matches_event(cast(Any, {**event, "detail-type": other})), (
        f"{rule} matches detail-type {other}"
    )

    for source in sorted(SOURCES - set(as_list(raw.get("source")))):
        assert not pattern.matches_event(cast(Any, {**event, "source": source})), (
            f"{rule} matches source {source}"
        )

    schema = model_for(detail_type).model_json_schema()
    for field, filters in ((raw.get("detail") or {}).get("data") or {}).items():
        if not isinstance(filters, list):
            continue
        spec = (schema.get("properties") or {}).get(field) or {}
        enum = _enum_of(spec, schema)
        left_out = [v for v in enum or [] if v not in filters]
        if left_out:
            near = json.loads(json.dumps(event))
            near["detail"]["data"][field] = [left_out[0]] if _is_array(spec) else left_out[0]
            assert not pattern.matches_event(cast(Any, near)), f"{rule} matches {field}={left_out[0]!r}"
