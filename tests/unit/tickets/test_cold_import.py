"""What each tickets handler module imports when Lambda loads it (issue 2's cold-import target).

The figures live in bench/ and docs/performance.md; these tests pin the structure that gives them:
the segmenter, the lexicon, the knowledge base, the classifier and the event catalogue are loaded by
the routes and operations that need them, never by importing a handler.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from services.tickets.models import entities
from shared.events import base as contract_literals

ROOT = Path(__file__).resolve().parents[3]

HEAVY = (
    "rjieba",  # the Chinese segmenter and its dictionary
    "services.tickets.logic.classify",  # the lexicon
    "services.tickets.logic.kb",  # BM25 index
    "services.tickets.dal.kb",
    "services.tickets.logic.text",  # segmenting, PII patterns
)


def _imported_by(module: str) -> set[str]:
    code = f"import json, sys\nimport {module}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    ("module", "also_absent"),
    [
        # The API: reads and the KB search must not pay for ticket logic or the event catalogue.
        (
            "services.tickets.handlers.api",
            (
                "shared.events.contracts",
                "services.tickets.logic.tickets",
                "services.tickets.dal.tickets",
                "shared.outbox",
            ),
        ),
        # A timer that finds its target met builds no event.
        ("services.tickets.handlers.sla_check", ("shared.events.contracts", "shared.outbox")),
        ("services.tickets.handlers.sla_timers", ()),
        ("services.tickets.handlers.on_events", ()),
    ],
)
def test_handler_import_leaves_heavy_modules_for_first_use(module: str, also_absent: tuple[str, ...]) -> None:
    loaded = _imported_by(module)
    assert module in loaded
    assert not (set(HEAVY) | set(also_absent)) & loaded


def test_repeated_literals_equal_the_contracts() -> None:
    # The contracts' shared literals live in shared.events.base (the catalogue is split per service).
    assert get_args(entities.TicketCategory) == get_args(contract_literals.TicketCategory)
    assert get_args(entities.TicketPriority) == get_args(contract_literals.TicketPriority)
    assert get_args(entities.TicketChannel) == get_args(contract_literals.TicketChannel)
