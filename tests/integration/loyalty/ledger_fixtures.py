"""LoyaltyTable as the template has it for the ledger: gsi1 plus the overloaded ``gsi2``."""

from __future__ import annotations

from tests.integration.helpers import aws


def add_gsi2(table: str) -> None:
    """Add ``gsi2`` (gsi2pk/gsi2sk) to a table made by ``create_table(..., gsi1=True)``."""
    aws("dynamodb").update_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": "gsi2pk", "AttributeType": "S"},
            {"AttributeName": "gsi2sk", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "gsi2",
                    "KeySchema": [
                        {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                        {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )
