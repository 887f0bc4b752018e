"""The shared pending-code repository (dal/one_time_code.py) on moto, under e-mail verification's
policy: conditional saves (of two requests one wins, the policy's 409), further transaction items
whose failed condition the caller names, wrong attempts counted on the count read, and the check's
WrongCode answered with the attempts left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.members.dal.one_time_code import DynamoOneTimeCodes
from services.members.logic import email_verification
from services.members.logic.one_time_code import (
    CodeRequest,
    WrongCode,
    check_code,
    plan_code_request,
)
from shared.dynamo import ConditionalCheckFailed, to_item
from shared.errors import Conflict, TooManyRequests
from tests.integration.members.identity_support import TABLE, create_members_table, items

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
KEY = b"k" * 32
MEMBER = "01JD0000000000000000000OTC"
POLICY = email_verification.CODES


@pytest.fixture
def codes(moto_aws: None) -> Iterator[DynamoOneTimeCodes]:
    create_members_table()
    yield DynamoOneTimeCodes(TABLE, POLICY)


def ask(codes: DynamoOneTimeCodes, now: datetime = NOW, code: str = "123456") -> CodeRequest:
    return plan_code_request(
        POLICY,
        member_id=MEMBER,
        pending=codes.pending(MEMBER),
        target_hash="t" * 64,
        key=KEY,
        now=now,
        code=code,
    )


def test_saved_and_read_back_under_the_policys_key(codes: DynamoOneTimeCodes) -> None:
    assert codes.pending(MEMBER) is None
    request = ask(codes)
    codes.save_request(request)
    assert codes.pending(MEMBER) == request.item
    assert [(i["pk"], i["sk"]) for i in items()] == [(f"MEMBER#{MEMBER}", "EMAILVERIFY")]


def test_of_two_requests_on_one_read_only_the_first_is_saved(codes: DynamoOneTimeCodes) -> None:
    first, second = ask(codes, code="111111"), ask(codes, code="222222")  # both read: nothing pending
    codes.save_request(first)
    with pytest.raises(Conflict) as lost:
        codes.save_request(second)
    assert lost.value.code == "email_verification_conflict"
    # a replacement is conditional on the version read
    third, fourth = ask(codes, NOW + timedelta(minutes=2)), ask(codes, NOW + timedelta(minutes=2))
    codes.save_request(third)
    with pytest.raises(Conflict):
        codes.save_request(fourth)
    assert codes.pending(MEMBER) == third.item


def test_a_further_items_failed_condition_reaches_the_caller_and_nothing_is_written(
    codes: DynamoOneTimeCodes,
) -> None:
    refused = {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": to_item({"pk": "NOWHERE", "sk": "NOTHING"}),
            "ConditionExpression": "attribute_exists(pk)",
        }
    }
    with pytest.raises(ConditionalCheckFailed) as failed:
        codes.save_request(ask(codes), refused)
    assert 1 in failed.value.failed_indexes
    assert codes.pending(MEMBER) is None


def test_a_wrong_attempt_counts_once_on_the_count_read(codes: DynamoOneTimeCodes) -> None:
    codes.save_request(ask(codes))
    assert codes.count_wrong_attempt(MEMBER, 0) is True
    assert codes.count_wrong_attempt(MEMBER, 0) is False  # another guess counted first
    pending = codes.pending(MEMBER)
    assert pending is not None and pending["attempts"] == 1


def test_the_check_is_counted_and_answered_with_the_attempts_left(codes: DynamoOneTimeCodes) -> None:
    codes.save_request(ask(codes))
    for left in (4, 3, 2, 1, 0):
        pending = codes.pending(MEMBER)
        with pytest.raises(WrongCode) as wrong, codes.wrong_attempts_counted(MEMBER, pending):
            check_code(POLICY, pending, member_id=MEMBER, code="000000", key=KEY, now=NOW)
        assert wrong.value.message == f"The code is not right ({left} attempts left)."
    pending = codes.pending(MEMBER)
    assert pending is not None and pending["attempts"] == 5
    # other outcomes pass through and count nothing
    with pytest.raises(TooManyRequests), codes.wrong_attempts_counted(MEMBER, pending):
        check_code(POLICY, pending, member_id=MEMBER, code="123456", key=KEY, now=NOW)
    assert codes.pending(MEMBER) == pending
    with codes.wrong_attempts_counted(MEMBER, None):
        pass  # a passing check: nothing raised, nothing written
    assert codes.pending(MEMBER) == pending
