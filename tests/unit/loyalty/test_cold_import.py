"""What loyalty's handler modules import when Lambda loads them (issue 2's cold-import target).

The figures live in docs/performance.md; these tests pin the structure that gives them: the API
registers every route without loading the ledger, wallet or DynamoDB modules (each route imports
what it uses when it runs), the plate projection's consumer loads only its own small DAL, and the
privacy consumers (MemberErased, MemberExportRequested) build keys and read items through the
light dal/keys.py, dal/*_items.py modules instead of loading every wallet repository.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _imported_by(module: str) -> set[str]:
    code = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_api_loads_no_logic_or_dal_module_at_import() -> None:
    loaded = _imported_by("services.loyalty.handlers.api")
    assert "services.loyalty.handlers.routes.coupons" in loaded  # the routes are registered
    heavy = sorted(m for m in loaded if m.startswith(("services.loyalty.logic", "services.loyalty.dal")))
    assert heavy == []
    assert "boto3" not in loaded and "shared.events.loyalty" not in loaded


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        (
            "services.loyalty.handlers.on_member_vehicles",
            ("services.loyalty.dal.parking", "services.loyalty.dal.ledger", "services.loyalty.logic.ledger"),
        ),
        ("services.loyalty.handlers.stream_publisher", ("services.loyalty.dal.ledger",)),
    ],
)
def test_a_consumer_loads_only_what_it_needs(module: str, absent: tuple[str, ...]) -> None:
    loaded = _imported_by(module)
    assert not [m for m in absent if m in loaded]


# What the privacy consumers must not load: the wallet and purchase repositories, the coupon,
# tier and earning rules, and the loyalty event models (all only reached through those).
_NOT_FOR_PRIVACY = (
    "services.loyalty.dal.coupons",
    "services.loyalty.dal.purchases",
    "services.loyalty.dal.adjustments",
    "services.loyalty.dal.receipts",
    "services.loyalty.dal.rewards",
    "services.loyalty.dal.wallet_points",
    "services.loyalty.logic.coupons",
    "services.loyalty.logic.tiers",
    "services.loyalty.logic.earning",
    "services.loyalty.logic.purchase_points",
    "services.loyalty.logic.offers",
    "services.loyalty.models.earning",
    "shared.events.loyalty",
)


def test_the_erasure_consumer_loads_the_ledger_but_no_wallet_repository() -> None:
    loaded = _imported_by("services.loyalty.handlers.on_member_erased")
    assert [m for m in _NOT_FOR_PRIVACY if m in loaded] == []
    # Every erasure marks the ledger erased (DynamoLedgerRepository), so the ledger stays; the
    # export reader, the purchases' and redemptions' converters are not needed.
    assert "services.loyalty.dal.ledger" in loaded and "services.loyalty.dal.wallet_items" in loaded
    absent = (
        "services.loyalty.dal.exports",
        "services.loyalty.dal.record_items",
        "services.loyalty.models.rewards",
    )
    assert [m for m in absent if m in loaded] == []


def test_the_export_consumer_reads_items_without_the_ledger_rules() -> None:
    loaded = _imported_by("services.loyalty.handlers.on_member_export")
    assert [m for m in _NOT_FOR_PRIVACY if m in loaded] == []
    assert "services.loyalty.dal.ledger_items" in loaded and "services.loyalty.dal.record_items" in loaded
    absent = ("services.loyalty.dal.ledger", "services.loyalty.logic.ledger", "services.loyalty.dal.privacy")
    assert [m for m in absent if m in loaded] == []


def test_models_build_their_validators_on_first_use() -> None:
    code = (
        "import json\nfrom services.loyalty.models import coupons, earning\n"
        "print(json.dumps([coupons.Coupon.__pydantic_complete__, earning.Tier.__pydantic_complete__]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [False, False]


def test_the_query_models_are_built_by_the_first_request_that_validates_one() -> None:
    # ~1 ms for WalletQuery, ~0.4 ms for MovementsQuery (QRY-performance.md): paid by the first
    # wallet or movements request, not by every cold start of the API.
    code = (
        "import json\nfrom services.loyalty.handlers import api\n"
        "from services.loyalty.handlers.routes import coupons, points\n"
        "print(json.dumps([coupons.WalletQuery.__pydantic_complete__,"
        " points.MovementsQuery.__pydantic_complete__]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [False, False]
