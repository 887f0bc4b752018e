"""Tag rules in MembersTable: create once, replace the version read, list by Query, delete."""

from __future__ import annotations

import pytest

from services.members.dal.tag_rules import DynamoTagRuleRepository
from services.members.logic.tags import TagRule, parse
from tests.integration.helpers import create_table

TABLE = "mallcrm-test-members"
RULE = parse(
    {
        "any": [
            {"field": "last_csat", "op": "<=", "value": 2},
            {"field": "complaint_count", "op": ">=", "value": 2},
        ]
    }
)


@pytest.fixture
def repo(moto_aws: None) -> DynamoTagRuleRepository:
    create_table(TABLE, gsi1=True)
    return DynamoTagRuleRepository(TABLE)


def test_create_read_update_delete(repo: DynamoTagRuleRepository) -> None:
    rule = TagRule(
        tag_id="unhappy", name="Unhappy", rule=RULE, description="needs care", updated_by="staff-1"
    )
    assert repo.put(rule, expected_version=None)
    assert not repo.put(rule, expected_version=None), "a tag id is created once"
    assert repo.get("unhappy") == rule
    assert repo.list() == [rule]

    changed = TagRule(
        tag_id="unhappy",
        name="Unhappy",
        rule=parse({"field": "last_csat", "op": "<=", "value": 1.5}),
        version=2,
    )
    assert not repo.put(changed, expected_version=7), "stale version"
    assert repo.put(changed, expected_version=1)
    stored = repo.get("unhappy")
    assert stored is not None and stored.version == 2 and stored.rule == changed.rule

    assert repo.delete("unhappy")
    assert not repo.delete("unhappy")
    assert repo.list() == []
