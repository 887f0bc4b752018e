"""Rules on AWS services' events (the default bus): SES's e-mail events for campaigns' receipts.

These are not MallCRM contracts (no model in ``shared.events``), so ``test_rule_patterns`` leaves
them out; here the receipt rule is checked against SES-shaped events (the event record the SES
developer guide documents, built by ``services.campaigns.dal.local_ses``): it takes exactly the
detail-types the consumer reads, only for this stage's configuration set, and nothing from a
MallCRM source."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from moto.events.models import EventPattern

from services.campaigns.dal.local_ses import DETAIL_TYPES, ses_event_detail, ses_eventbridge_event
from services.campaigns.logic.receipts import SES_DETAIL_TYPES, receipt_from_ses
from shared.events import SOURCES
from tests.infra.template_loader import as_list, cfn_resources, of_type, props

RULE = "CampaignsChannelReceiptsRule"
CONFIG_SET = "mallcrm-dev-campaigns-email"
AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _resolved(node: Any) -> Any:
    """The pattern with the configuration set's Ref replaced by a physical name."""
    if isinstance(node, dict):
        if node == {"Ref": "CampaignsEmailConfigurationSet"}:
            return CONFIG_SET
        return {k: _resolved(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v) for v in node]
    return node


def _pattern() -> dict[str, Any]:
    raw = props(cfn_resources()[RULE])["EventPattern"]
    return cast(dict[str, Any], _resolved(json.loads(raw) if isinstance(raw, str) else raw))


def _event(kind: Any, configuration_set: str = CONFIG_SET) -> dict[str, Any]:
    detail = ses_event_detail(
        kind, send_id="cmp#c1#m1", message_id="0100-x", configuration_set=configuration_set, sent_at=AT, at=AT
    )
    return ses_eventbridge_event(kind, detail, AT)


def test_every_rule_on_aws_events_is_known_here() -> None:
    aws_rules = [
        name
        for name, rule in of_type(cfn_resources(), "AWS::Events::Rule").items()
        if (p := props(rule).get("EventPattern"))
        and all(
            str(s).startswith("aws.")
            for s in as_list((json.loads(p) if isinstance(p, str) else p).get("source"))
        )
    ]
    assert aws_rules == [RULE]


def test_the_rule_takes_exactly_the_detail_types_the_consumer_reads() -> None:
    assert sorted(as_list(_pattern()["detail-type"])) == sorted(SES_DETAIL_TYPES)


@pytest.mark.parametrize("kind", sorted(DETAIL_TYPES))
def test_the_rule_matches_each_ses_event_of_the_configuration_set(kind: Any) -> None:
    event = _event(kind)
    assert EventPattern.load(json.dumps(_pattern())).matches_event(cast(Any, event))
    assert receipt_from_ses(event["detail-type"], event["detail"]) is not None  # and the consumer reads it


@pytest.mark.parametrize("kind", sorted(DETAIL_TYPES))
def test_the_rule_ignores_other_configuration_sets_sources_and_types(kind: Any) -> None:
    pattern = EventPattern.load(json.dumps(_pattern()))
    assert not pattern.matches_event(cast(Any, _event(kind, "someone-elses-set")))
    for source in sorted(SOURCES):
        assert not pattern.matches_event(cast(Any, {**_event(kind), "source": source}))
    for other in ("Email Opened", "Email Sent", "Email Delivery Delayed"):
        assert not pattern.matches_event(cast(Any, {**_event(kind), "detail-type": other}))
