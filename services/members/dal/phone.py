"""Phone-change state in MembersTable (the only boto3 user for it).

| item | pk | sk |
|---|---|---|
| pending change | ``MEMBER#<id>`` | ``PHONECHANGE`` (code MAC, sealed number, its hash, counters) |
| codes sent to a number | ``SMSLIMIT#<phone hmac>`` | ``<mall date>`` (``sent``; ``ttl`` 2 days) |

The pending change is a one-time code (:class:`DynamoOneTimeCodes`); this adds the per-number
counter to its request. The confirmed change itself goes through
:meth:`DynamoMembersRepository.apply` (one transaction).
"""

from __future__ import annotations

from services.members.dal.one_time_code import DynamoOneTimeCodes
from services.members.logic.one_time_code import CodeRequest
from services.members.logic.phone import CODES, MAX_CODES_PER_NUMBER_PER_DAY
from shared.dynamo import ConditionalCheckFailed, to_item
from shared.errors import TooManyRequests


class DynamoPhoneChangeRepository(DynamoOneTimeCodes):
    def __init__(self, table_name: str) -> None:
        super().__init__(table_name, CODES)

    def save_phone_request(self, request: CodeRequest, *, number_day: str, ttl: int) -> None:
        """The pending item (condition: unchanged since read) and the per-number counter
        (condition: under the daily cap), in one transaction."""
        counter = {
            "Update": {
                "TableName": self.table_name,
                "Key": to_item({"pk": f"SMSLIMIT#{request.item['phone_hash']}", "sk": number_day}),
                "UpdateExpression": "ADD sent :one SET entity = :entity, #ttl = :ttl",
                "ConditionExpression": "attribute_not_exists(sent) OR sent < :max",
                "ExpressionAttributeNames": {"#ttl": "ttl"},
                "ExpressionAttributeValues": to_item(
                    {":one": 1, ":max": MAX_CODES_PER_NUMBER_PER_DAY, ":entity": "sms_limit", ":ttl": ttl}
                ),
            }
        }
        try:
            self.save_request(request, counter)
        except ConditionalCheckFailed:  # only the counter's condition reaches here
            raise TooManyRequests(
                "too_many_codes_for_number", "Too many codes were sent to this number today."
            ) from None
