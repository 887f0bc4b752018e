"""The per-campaign counters (``dal/campaign_stats.py``): sharded writes, one summed read.

Every writer goes through ``stats_update_op``; the report reads ``stats_by_variant`` through the
attribution repository's ``stats``. Items written before the sharding (``STATS#<variant>``) and
launch's/attribution's unsharded counters still count."""

from __future__ import annotations

from datetime import timedelta

from services.campaigns.dal.attribution import DynamoAttributionRepository
from services.campaigns.dal.campaign_stats import (
    STATS_SHARDS,
    stats_by_variant,
    stats_shard,
    stats_update_op,
    variant_of,
)
from services.campaigns.dal.dispatch import DynamoDispatchStore
from services.campaigns.logic.dispatch import Dependencies, process_batch
from shared.dynamo import to_item, transact_write
from tests.integration.campaigns.test_dispatch import (
    MORNING,
    TABLE,
    FakeChannel,
    FakeOffers,
    FakeWaker,
    consent,
)
from tests.integration.campaigns.test_dispatch_batch import members, policy
from tests.integration.helpers import all_items, aws, create_table


def test_the_shard_comes_from_the_key_and_stays_in_range() -> None:
    assert stats_shard("cmp#c1#m1") == stats_shard("cmp#c1#m1")
    assert {stats_shard(f"cmp#c1#m{i}") for i in range(200)} == set(range(STATS_SHARDS))
    assert all(0 <= stats_shard(None) < STATS_SHARDS for _ in range(50))
    # The call form without a hint (receipts) still works and picks a shard.
    op = stats_update_op("t", "c1", "A", {"delivered": 1})["Update"]
    assert variant_of(op["Key"]["sk"]["S"]) == "A" and op["Key"]["sk"]["S"].startswith("STATS#A#")
    hinted = stats_update_op("t", "c1", "A", {"clicked": 1}, shard_key="cmp#c1#m1")["Update"]
    assert hinted["Key"]["sk"]["S"] == f"STATS#A#{stats_shard('cmp#c1#m1')}"


def test_variants_are_read_back_from_sharded_and_unsharded_keys() -> None:
    assert [variant_of(sk) for sk in ("STATS#A#3", "STATS#A", "STATS#-#0", "STATS#-", "STATS#holdout#7")] == [
        "A",
        "A",
        "-",
        "-",
        "holdout",
    ]


def test_the_report_sums_every_shard_and_the_items_written_before(moto_aws: None) -> None:
    create_table(TABLE)
    # Before the sharding: one item per variant (and launch's ``assigned``, still unsharded).
    aws("dynamodb").put_item(
        TableName=TABLE,
        Item=to_item(
            {"pk": "CAMPAIGN#c1", "sk": "STATS#A", "entity": "campaign_stats", "sent": 5, "assigned": 40}
        ),
    )
    for i in range(20):
        transact_write(
            [stats_update_op(TABLE, "c1", "A", {"sent": 1, "delivered": 1}, shard_key=f"cmp#c1#m{i}")]
        )
    transact_write([stats_update_op(TABLE, "c1", "-", {"clicked": 2})])
    shards = {i["sk"] for i in all_items(TABLE) if i["pk"] == "CAMPAIGN#c1"}
    assert len(shards) > 3  # spread over several items
    report = DynamoAttributionRepository(TABLE).stats("c1")
    assert report == {"A": {"sent": 25, "delivered": 20, "assigned": 40}, "-": {"clicked": 2}}


def test_dispatch_writes_its_counters_to_shards_and_the_totals_are_unchanged(moto_aws: None) -> None:
    create_table(TABLE)
    for i in range(30):
        consent(f"m{i}", "sms")
    sends = members(30)
    for at in (MORNING, MORNING + timedelta(minutes=1)):
        deps = Dependencies(
            store=DynamoDispatchStore(TABLE),
            channels={"sms": FakeChannel()},
            offers=FakeOffers(),
            waker=FakeWaker(),
        )
        assert set(process_batch(sends, deps, policy(), at)) == {"held" if at == MORNING else "sent"}
    items = [i for i in all_items(TABLE) if i["pk"] == "CAMPAIGN#c1"]
    assert items and all(i["sk"].startswith("STATS#A#") for i in items)
    assert stats_by_variant(items) == {"A": {"sent": 30}}
