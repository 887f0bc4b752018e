"""The stream publishers delete what they published (shared/outbox.py), and nothing else.

Checked on the SAM-translated template (what is deployed): each ``<Svc>StreamPublisherFunction``
reads its own table's name from ``TABLE_NAME``; its only DynamoDB permission is ``BatchWriteItem`` (the
deletes) on that table, limited to outbox keys (``dynamodb:LeadingKeys`` ``OUTBOX#*``); and its stream filter
drops the REMOVE records those deletes (and the TTL) write, so a delete never invokes it again.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from moto.events.models import EventPattern

from tests.infra.template_loader import (
    SERVICES,
    as_list,
    cfn_resources,
    of_type,
    props,
    role_of,
    role_statements,
    target_of,
)

PUBLISHERS = {f"{svc.capitalize()}StreamPublisherFunction": f"{svc.capitalize()}Table" for svc in SERVICES}


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return cfn_resources()


def test_every_service_has_a_stream_publisher(cfn):
    functions = of_type(cfn, "AWS::Lambda::Function")
    assert sorted(n for n in functions if n.endswith("StreamPublisherFunction")) == sorted(PUBLISHERS)


def test_each_publisher_knows_its_own_table(cfn):
    problems = []
    for publisher, table in PUBLISHERS.items():
        variables = (props(cfn[publisher]).get("Environment") or {}).get("Variables") or {}
        if target_of(variables.get("TABLE_NAME")) != table:
            problems.append(f"{publisher}: TABLE_NAME {variables.get('TABLE_NAME')!r}, want Ref {table}")
    assert not problems, problems


def test_each_publisher_may_only_delete_outbox_items_of_its_own_table(cfn):
    problems = []
    for publisher, table in PUBLISHERS.items():
        role = role_of(cfn, publisher)
        assert role, publisher
        dynamo = [
            s for s in role_statements(cfn, role) if any(a.lower().startswith("dynamodb:") for a in s.actions)
        ]
        if len(dynamo) != 1:
            problems.append(f"{publisher}: {len(dynamo)} DynamoDB statements, want exactly one")
            continue
        (statement,) = dynamo
        if statement.effect != "Allow" or list(statement.actions) != ["dynamodb:BatchWriteItem"]:
            problems.append(f"{publisher}: {statement.effect} {list(statement.actions)}, want BatchWriteItem")
        if [target_of(r) for r in statement.resources] != [table]:
            found = list(statement.resources)
            problems.append(f"{publisher}: BatchWriteItem on {found!r}, want only {table}")
        leading = (statement.condition.get("ForAllValues:StringLike") or {}).get("dynamodb:LeadingKeys")
        if as_list(leading) != ["OUTBOX#*"]:
            problems.append(f"{publisher}: dynamodb:LeadingKeys {leading!r}, want ['OUTBOX#*']")
    assert not problems, problems


def test_the_publishers_stream_filters_drop_the_removes_of_deleted_and_expired_outbox_items(cfn):
    keys = {"pk": {"S": "OUTBOX#01J0000000000000000000000"}, "sk": {"S": "OUTBOX"}}
    image = {**keys, "entity": {"S": "outbox"}}
    deleted = {"eventName": "REMOVE", "dynamodb": {"Keys": keys, "OldImage": image}}
    expired = {
        **deleted,
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    }
    inserted = {"eventName": "INSERT", "dynamodb": {"Keys": keys, "NewImage": image}}
    mappings = {
        target_of(props(m).get("FunctionName")): props(m)
        for m in of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
    }
    problems = []
    for publisher in PUBLISHERS:
        filters = ((mappings.get(publisher) or {}).get("FilterCriteria") or {}).get("Filters") or []
        patterns = [EventPattern.load(f["Pattern"]) for f in filters]
        if not patterns:
            problems.append(f"{publisher}: no stream filter")
            continue

        def passes(record: dict[str, Any], patterns: list[EventPattern] = patterns) -> bool:
            return any(p.matches_event(cast(Any, record)) for p in patterns)

        if not passes(inserted):
            problems.append(f"{publisher}: drops outbox INSERTs")
        if passes(deleted) or passes(expired):
            problems.append(f"{publisher}: lets the REMOVE of an outbox item through")
    assert not problems, problems
