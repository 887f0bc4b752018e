"""CampaignsOnMemberPrivacyFunction on moto: the consent projection (idempotent, newest wins even
out of order) and erasure (projections and locks gone, episodes pseudonymised, late events no-ops)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.campaigns.dal.episodes import DynamoEpisodeRepository
from services.campaigns.dal.privacy import DynamoConsentProjection
from services.campaigns.dal.projection import DynamoLastPurchaseRepository
from services.campaigns.handlers import on_member_privacy
from services.campaigns.logic.churn_warning import JOURNEY, execution_name
from services.campaigns.logic.privacy import pseudonym
from services.campaigns.models.entities import Episode
from shared import secrets as shared_secrets
from shared.events.contracts import MemberConsentChanged, MemberErased
from tests.integration.campaigns.conftest import TABLE
from tests.integration.helpers import FakeContext, all_items, aws, contract_bus_event, sqs_event

MEMBER = "01JD0000000000000000000AAA"
OTHER = "01JD0000000000000000000BBB"
T0 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
KEY = "campaigns-pseudonym-key-0123456789abcdef"


@pytest.fixture
def env(campaigns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = aws("secretsmanager").create_secret(Name="mallcrm/test/campaigns-pseudonym", SecretString=KEY)[
        "ARN"
    ]
    monkeypatch.setenv("PSEUDONYM_KEY_SECRET_ARN", arn)
    shared_secrets.clear_cache()


def consent_event(member=MEMBER, granted=True, at=T0, channel="sms", purpose="marketing"):
    return contract_bus_event(
        MemberConsentChanged(
            member_id=member,
            purpose=purpose,
            channel=channel,
            granted=granted,
            changed_at=at,
            text_version="mkt-1",
        )
    )


def erased_event(member=MEMBER):
    return contract_bus_event(
        MemberErased(member_id=member, erased_at=T0 + timedelta(days=5), requested_by="member")
    )


def deliver(*events):
    result = on_member_privacy.handler(sqs_event(events), FakeContext())
    assert result == {"batchItemFailures": []}


def channels(member=MEMBER):
    return DynamoConsentProjection(TABLE).marketing_channels(member)


def summary(member=MEMBER):
    """The member's consent summary (``MEMBER#<id>`` / ``CONSENTS``): what dispatch reads."""
    [item] = [i for i in all_items(TABLE) if i["pk"] == f"MEMBER#{member}" and i["sk"] == "CONSENTS"]
    return item["consents"]


@pytest.mark.usefixtures("env")
class TestConsentProjection:
    def test_a_grant_is_projected_and_a_redelivery_changes_nothing(self):
        event = consent_event()
        deliver(event)
        deliver(event)
        assert channels() == ["sms"]
        assert len([i for i in all_items(TABLE) if i["entity"] == "consent_projection"]) == 1

    def test_the_newest_decision_wins_whatever_the_arrival_order(self):
        deliver(consent_event(granted=False, at=T0 + timedelta(hours=1)))
        deliver(consent_event(granted=True, at=T0))  # older, late
        assert channels() == []
        deliver(consent_event(granted=True, at=T0 + timedelta(hours=2)))
        assert channels() == ["sms"]

    def test_other_purposes_do_not_count_as_marketing(self):
        deliver(consent_event(purpose="personalisation", channel=None))
        assert channels() == []

    def test_the_summary_says_what_the_items_say_whatever_the_arrival_order(self):
        deliver(consent_event(granted=False, at=T0 + timedelta(hours=1)))
        deliver(consent_event(granted=True, at=T0))  # older, late: neither item nor summary moves
        deliver(consent_event(purpose="personalisation", channel=None, granted=False, at=T0))
        assert summary() == {"marketing#sms": False, "personalisation": False}
        deliver(consent_event(granted=True, at=T0 + timedelta(hours=2)), consent_event(channel="wechat"))
        assert summary() == {"marketing#sms": True, "marketing#wechat": True, "personalisation": False}

    def test_a_redelivery_repairs_a_summary_its_first_delivery_did_not_write(self):
        event = consent_event()
        deliver(event)
        aws("dynamodb").delete_item(
            TableName=TABLE, Key={"pk": {"S": f"MEMBER#{MEMBER}"}, "sk": {"S": "CONSENTS"}}
        )
        deliver(event)  # stale for the item, but the summary is rebuilt
        assert summary() == {"marketing#sms": True}

    def test_a_rebuild_that_read_before_another_writer_reads_again(self, monkeypatch):
        from services.campaigns.dal import privacy

        deliver(consent_event())
        projection = DynamoConsentProjection(TABLE)
        from shared.dynamo import query_all as real_query_all

        raced: list[bool] = []

        def query_then_race(request):
            items = list(real_query_all(request))
            if not raced:  # another consumer stores a WeChat grant and rebuilds, in between
                raced.append(True)
                deliver(consent_event(channel="wechat", at=T0 + timedelta(minutes=1)))
            return items

        monkeypatch.setattr(privacy, "query_all", query_then_race)
        deliver(consent_event(channel="email", at=T0 + timedelta(minutes=2)))
        assert raced
        # the first rebuild (sms + email, without wechat) lost on the version and read again
        assert summary() == {"marketing#sms": True, "marketing#wechat": True, "marketing#email": True}
        assert projection.marketing_channels(MEMBER) == ["email", "sms", "wechat"]


@pytest.mark.usefixtures("env")
class TestErasure:
    def _episode(self, member, episode_id):
        episode = Episode(
            episode_id=episode_id,
            journey=JOURNEY,
            member_id=member,
            status="starting",
            started_at=T0,
            execution_name=execution_name(episode_id),
        )
        DynamoEpisodeRepository(TABLE).open(episode)

    def test_erasure_leaves_only_the_pseudonym(self):
        deliver(consent_event(), consent_event(member=OTHER))
        DynamoLastPurchaseRepository(TABLE).advance(MEMBER, T0, "P1")
        self._episode(MEMBER, "01JDEP0000000000000000000A")
        self._episode(OTHER, "01JDEP0000000000000000000B")

        deliver(erased_event())
        deliver(erased_event())  # redelivered (another event id): nothing left to do, no failure

        alias = pseudonym(KEY.encode(), MEMBER)
        items = all_items(TABLE)
        assert not [i for i in items if MEMBER in str(i)], [i for i in items if MEMBER in str(i)]
        episode = DynamoEpisodeRepository(TABLE).get("01JDEP0000000000000000000A")
        assert episode is not None and episode.member_id == alias
        other_episode = DynamoEpisodeRepository(TABLE).get("01JDEP0000000000000000000B")
        assert other_episode is not None and other_episode.member_id == OTHER
        assert channels(OTHER) == ["sms"]  # someone else's data is untouched
        assert DynamoLastPurchaseRepository(TABLE).last_purchase_at(MEMBER) is None

    def test_a_late_consent_event_for_an_erased_member_is_dropped(self):
        deliver(erased_event())
        deliver(consent_event(at=T0 - timedelta(days=1)))
        assert channels() == []
        assert not [i for i in all_items(TABLE) if MEMBER in str(i)]

    def test_a_summary_rebuild_after_the_erasure_writes_nothing(self):
        deliver(consent_event())
        deliver(erased_event())
        # a consumer that stored its consent just before the erasure rebuilds just after it
        DynamoConsentProjection(TABLE).refresh_summary(MEMBER, pseudonym(KEY.encode(), MEMBER))
        assert not [i for i in all_items(TABLE) if MEMBER in str(i)]


@pytest.mark.usefixtures("env")
def test_a_late_purchase_event_for_an_erased_member_is_not_projected():
    from services.campaigns.handlers import on_purchase_recorded
    from shared.events.contracts import PurchaseRecorded

    deliver(erased_event())
    late = PurchaseRecorded(
        purchase_id="P-late",
        external_id="E-late",
        source_system="pos-main",
        member_id=MEMBER,
        store_id="store-1",
        tenant_id=None,
        amount_cents=100,
        channel="pos",
        occurred_at=T0,
    )
    other = late.model_copy(update={"purchase_id": "P-other", "member_id": OTHER})
    result = on_purchase_recorded.handler(
        sqs_event([contract_bus_event(late), contract_bus_event(other)]), FakeContext()
    )
    assert result == {"batchItemFailures": []}
    assert DynamoLastPurchaseRepository(TABLE).last_purchase_at(MEMBER) is None
    assert DynamoLastPurchaseRepository(TABLE).last_purchase_at(OTHER) == T0
