"""LoyaltyStreamPublisherFunction: the outbox item written by the API reaches the bus intact."""

from __future__ import annotations

import pytest

from services.loyalty.handlers import stream_publisher
from shared.events import PurchaseRecorded, consume
from tests.integration.helpers import (
    FakeContext,
    bus_with_catch_all_queue,
    outbox_stream_event,
    received_events,
)
from tests.integration.loyalty.conftest import TABLE
from tests.integration.loyalty.test_api_purchases import post, purchase_body


@pytest.mark.usefixtures("loyalty")
def test_recorded_purchase_is_published_as_purchase_recorded() -> None:
    queue = bus_with_catch_all_queue("mallcrm-test")
    _, created = post(purchase_body())

    result = stream_publisher.handler(outbox_stream_event(TABLE), FakeContext())

    assert result == {"batchItemFailures": []}
    (delivered,) = received_events(queue)
    assert (delivered["source"], delivered["detail-type"]) == ("mallcrm.loyalty", "PurchaseRecorded")
    _, data = consume(PurchaseRecorded, delivered["detail"])
    assert (data.purchase_id, data.member_id) == (created["purchase_id"], "01HX9ZK3M5N7P9Q1R3S5T7V9WX")
