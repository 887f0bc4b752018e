"""Campaigns' part of a member's data export on moto (docs/contracts/export.md): MemberExportRequested
→ ``exports/<id>/campaigns.json`` with the member's consents, attribute row, inbox, sends with
their outcomes, journey episodes and campaign assignments in clear, nothing of another member,
``data: null`` once erased or when campaigns never saw the member, nothing written for an expired
request, a redelivery overwrites the same object, and an erasure that overtakes the export
deletes the part (both orders)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.dal.exports import DynamoCampaignsExportReader, S3ExportWriter
from services.campaigns.handlers import on_member_export, on_member_privacy
from services.campaigns.logic.dispatch import Delivery, Dependencies, OutgoingMessage, Policy, process
from services.campaigns.logic.guardrails import Limits, QuietHours
from services.campaigns.models.dispatch import SendRequest
from services.campaigns.models.entities import Episode
from shared import clock
from shared import secrets as shared_secrets
from shared.events.contracts import MemberErased, MemberExportRequested
from tests.integration.campaigns.planning_support import TABLE, Planning, planning_world
from tests.integration.campaigns.test_planning_flow import (
    launch_campaign,
    launched_assignments,
    make_segment,
    population,
)
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, sqs_event

BUCKET = "mallcrm-test-member-exports"
EXPORT_ID = "01HXA0000000000000000000EX"
NOBODY = "01HX9999999999999999999999"


@pytest.fixture
def planning(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Planning]:
    world = planning_world(monkeypatch)
    planned = next(world)
    aws("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("MEMBER_EXPORTS_BUCKET", BUCKET)
    shared_secrets.clear_cache()
    yield planned
    shared_secrets.clear_cache()
    next(world, None)


def request(member_id: str, export_id: str = EXPORT_ID, **overrides: Any) -> MemberExportRequested:
    fields: dict[str, Any] = {
        "export_id": export_id,
        "member_id": member_id,
        "requested_at": clock.now(),
        "object_prefix": f"exports/{export_id}/",
        "expires_at": clock.now() + timedelta(days=7),
        **overrides,
    }
    return MemberExportRequested(**fields)


def deliver(*requests: MemberExportRequested) -> dict[str, Any]:
    return dict(
        on_member_export.handler(
            sqs_event([contract_bus_event(r) for r in requests]),
            FakeContext(function_name="campaigns-export"),
        )
    )


def part(export_id: str = EXPORT_ID) -> dict[str, Any]:
    body = aws("s3").get_object(Bucket=BUCKET, Key=f"exports/{export_id}/campaigns.json")["Body"].read()
    return dict(json.loads(body))


def keys() -> list[str]:
    return [o["Key"] for o in aws("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]


class Inbox:
    def send(self, message: OutgoingMessage) -> Delivery:
        return Delivery(provider_message_id=None, delivered=True)


class Sms:
    def send(self, message: OutgoingMessage) -> Delivery:
        return Delivery(provider_message_id="sms-1")


class NoOffers:
    def issue(self, request: SendRequest) -> Any:  # pragma: no cover - no offer in these sends
        raise AssertionError("no offer expected")


class NoWaker:
    def ensure(self, at: datetime) -> None:
        return None


def dispatch(request: SendRequest) -> str:
    deps = Dependencies(
        store=DynamoDispatchStore(TABLE),
        channels={"inbox": Inbox(), "sms": Sms()},
        offers=NoOffers(),
        waker=NoWaker(),
    )
    policy = Policy(
        zone=clock.zone("Asia/Shanghai"),
        limits=Limits(per_day=5, per_week=10),
        quiet=QuietHours(0, 0),
        decision_window=timedelta(0),
    )
    return process(request, deps, policy, clock.now())


def notification(member_id: str) -> SendRequest:
    return SendRequest.model_validate(
        {
            "send_id": f"ntf#n-{member_id}",
            "kind": "transactional",
            "campaign_id": None,
            "variant": None,
            "member_id": member_id,
            "channels": ["inbox"],
            "priority": 50,
            "content": {"inbox": {"title": "Your ticket", "body": "We replied to your ticket"}},
            "personalisation": {},
            "requested_at": clock.now(),
            "topic": "ticket_reply",
        }
    )


def given_a_member_campaigns_knows_well(planning: Planning) -> tuple[str, str, str]:
    """(member, other member, campaign id): a launch, a campaign SMS, an inbox notification and
    a churn-warning episode for the member."""
    ids = population(20)
    from services.campaigns.handlers import materialise

    materialise.handler({}, FakeContext())
    sid = make_segment({"field": "tier", "op": "in", "values": ["gold", "silver"]})
    cid, sent = launch_campaign(
        planning,
        {"name": "all", "kind": "one_off", "segment_id": sid, "channels": ["sms"],
         "content": {"sms": {"body": "Hi {tier} member"}}},
    )  # fmt: skip
    mine = sent[0]
    member, other = mine.member_id, next(m for m in ids if m != mine.member_id)
    assert dispatch(mine) == "sent"
    assert dispatch(notification(member)) == "sent"
    assert dispatch(notification(other)) == "sent"
    started = clock.now() - timedelta(days=1)
    DynamoEpisodeRepository(TABLE).open(
        Episode(
            episode_id="01HXEP0000000000000000000A",
            journey="churn_warning",
            member_id=member,
            status="starting",
            started_at=started,
            execution_name="churn-warning-01HXEP0000000000000000000A",
            trigger_churn_risk="high",
            trigger_value_level="high",
        )
    )
    return member, other, cid


def test_the_part_holds_what_campaigns_holds_about_the_member(planning: Planning) -> None:
    member, other, cid = given_a_member_campaigns_knows_well(planning)
    assert deliver(request(member)) == {"batchItemFailures": []}

    assert keys() == [f"exports/{EXPORT_ID}/campaigns.json"]
    document = part()
    assert {k: document[k] for k in ("format", "service", "export_id", "member_id")} == {
        "format": "mallcrm.member-export-part.v1",
        "service": "campaigns",
        "export_id": EXPORT_ID,
        "member_id": member,
    }
    data = document["data"]
    assert [(c["purpose"], c["channel"], c["granted"]) for c in data["consents"]] == [
        ("marketing", "sms", True)
    ]
    assert data["attributes"]["tier"] in {"gold", "silver"}
    assert data["attributes"]["points_balance"] is not None
    sends = {s["send_id"]: s for s in data["sends"]}
    assert set(sends) == {f"cmp#{cid}#{member}", f"ntf#n-{member}"}
    assert (sends[f"cmp#{cid}#{member}"]["status"], sends[f"cmp#{cid}#{member}"]["channel"]) == (
        "sent",
        "sms",
    )
    assert sends[f"ntf#n-{member}"]["kind"] == "transactional"
    [message] = data["inbox"]
    assert (message["title"], message["body"], message["topic"]) == (
        "Your ticket",
        "We replied to your ticket",
        "ticket_reply",
    )
    [episode] = data["journey_episodes"]
    assert (episode["journey"], episode["status"], episode["trigger_churn_risk"]) == (
        "churn_warning",
        "starting",
        "high",
    )
    [assignment] = data["campaign_assignments"]
    assert (assignment["campaign_id"], assignment["arm"]) == (cid, launched_assignments()[member])
    assert data["last_marketing_contact"]["channel"] == "sms"
    text = json.dumps(document)
    assert other not in text  # nothing of another member, though they share the launch's bucket
    assert "SENDREF" not in text and "OUTBOXREF" not in text and "gsi2pk" not in text
    # the events of her sends are kept in her partition until their TTL, and not exported
    assert [i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{member}" and i.get("entity") == "outbox"]
    assert "OUTBOX#" not in text and "detail_type" not in text
    pointer = [
        i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{member}" and i["sk"] == f"EXPORT#{EXPORT_ID}"
    ]
    assert pointer and pointer[0]["object_key"] == f"exports/{EXPORT_ID}/campaigns.json"


def test_a_pending_send_shows_the_message_waiting_for_the_member(planning: Planning) -> None:
    member = "01HX0000000000000000000PND"
    waiting = notification(member).model_copy(update={"send_id": "ntf#later"})
    DynamoDispatchStore(TABLE).create(waiting, clock.now())
    deliver(request(member))
    [send] = part()["data"]["sends"]
    assert send["status"] == "pending"
    assert send["pending_message"]["content"]["inbox"]["body"] == "We replied to your ticket"


def test_a_redelivery_overwrites_the_same_object(planning: Planning) -> None:
    member, _, _ = given_a_member_campaigns_knows_well(planning)
    assert deliver(request(member), request(member)) == {"batchItemFailures": []}
    assert keys() == [f"exports/{EXPORT_ID}/campaigns.json"]


def test_an_unknown_member_gets_an_empty_part_and_an_expired_request_nothing(planning: Planning) -> None:
    assert deliver(request(NOBODY)) == {"batchItemFailures": []}
    assert (part()["data"], part()["note"]) == (None, "no data")
    assert not [i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{NOBODY}"]  # no pointer either
    late = request(
        NOBODY, export_id="01HXA0000000000000000000XX", expires_at=clock.now() - timedelta(seconds=1)
    )
    assert deliver(late) == {"batchItemFailures": []}
    assert keys() == [f"exports/{EXPORT_ID}/campaigns.json"]


def erase(member: str) -> None:
    event = contract_bus_event(MemberErased(member_id=member, erased_at=clock.now(), requested_by="member"))
    assert on_member_privacy.handler(sqs_event([event]), FakeContext()) == {"batchItemFailures": []}


def test_an_erased_member_gets_no_data_and_an_erasure_deletes_parts_already_written(
    planning: Planning,
) -> None:
    member, other, _ = given_a_member_campaigns_knows_well(planning)
    deliver(request(member))
    deliver(request(other, export_id="01HXA0000000000000000000OT"))
    erase(member)  # members deleted what it found; a part written later is campaigns' to delete
    assert keys() == ["exports/01HXA0000000000000000000OT/campaigns.json"]
    assert not [i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{member}"]
    deliver(request(member, export_id="01HXA0000000000000000000AF"))
    after = part("01HXA0000000000000000000AF")
    assert (after["data"], after["note"]) == (None, "no data")


class ErasedMeanwhile(DynamoCampaignsExportReader):
    """The erasure's tombstone lands between the read and the object's write."""

    calls = 0

    def is_erased(self, pseudonym: str) -> bool:
        self.calls += 1
        return self.calls > 1


def test_an_erasure_that_starts_while_the_part_is_written_deletes_it(planning: Planning) -> None:
    member, _, _ = given_a_member_campaigns_knows_well(planning)
    reader = ErasedMeanwhile(TABLE)
    assert on_member_export.write_export(reader, S3ExportWriter(BUCKET), "anon_x", request(member)) is None
    assert keys() == []
    assert not [i for i in all_items(TABLE) if i["sk"].startswith("EXPORT#")]
