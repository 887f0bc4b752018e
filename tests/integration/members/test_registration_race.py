"""Two registrations with one phone at the same moment: exactly one 201, the other 409.

Both requests pass validation and neither reads before writing; the phone's lookup key is created
with ``attribute_not_exists(pk)`` inside each registration's TransactWriteItems, so the database
decides. DynamoDB serialises conflicting transactions; moto does not (its TransactWriteItems checks
and writes without a lock, and a failed one restores a snapshot of the whole table), so the test
serialises moto's TransactWriteItems with a lock — the guarantee DynamoDB gives — and races
everything else for real: two threads released together by a barrier.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from tests.integration.members.identity_support import (
    call,
    identity_env,  # noqa: F401 - fixture
    items,
    login,
    member_event,
    outbox,
    registration,
)

pytestmark = pytest.mark.usefixtures("identity_env")


@pytest.fixture
def serialisable_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", locked)


@pytest.mark.usefixtures("serialisable_transactions")
@pytest.mark.parametrize("same", ["phone", "openid"])
def test_concurrent_registrations_one_wins_the_other_gets_409(same: str) -> None:
    contexts = [login("o-alice"), login("o-alice" if same == "openid" else "o-bob")]
    phones = ["13812341234", "13812341234" if same == "phone" else "13900001111"]
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict[str, Any]]] = []
    errors: list[BaseException] = []

    def attempt(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(call(member_event("POST", "/v1/members", contexts[n], registration(phones[n]))))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(status for status, _ in results) == [201, 409]
    (loser,) = [body for status, body in results if status == 409]
    assert loser["error"]["code"] == ("phone_already_registered" if same == "phone" else "already_registered")
    assert len([i for i in items() if i.get("sk") == "PROFILE"]) == 1
    assert len(outbox("MemberRegistered")) == 1
