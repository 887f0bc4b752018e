"""Who gets what: the global control group, holdouts and A/B/n variants.

**Global control group** — a stable random share of *all* members who receive no marketing, so
the true uplift of marketing as a whole can be measured: ``blake2b(salt, member_id)`` mod 10 000
below ``basis_points``. Stable (the same members every day, every campaign) and independent of
any campaign. Changing the salt draws a new group (a decision, not a deploy detail).

**Arms** — a campaign's variants and its holdout. Plain hash-mod assignment is stable but splits
small audiences unevenly (with 40 members and two arms, 26/14 happens). We use *blocked*
assignment instead: the audience is ordered by ``blake2b(campaign_id, member_id)`` (a random order
that does not depend on the member ids' own order), cut into blocks whose size is the sum of the
arms' slots, and each block's slots are dealt in a shuffled order seeded by the campaign and the
block number. Every complete block has exactly the planned split, so any audience is off by at
most one block; the same campaign and audience always give the same assignment (a resumed launch
re-computes it identically).

For triggered campaigns members arrive one at a time, counted by a per-campaign counter split in
``ARRIVAL_SHARDS`` shards (one counter would be a hot key at festival rates): a member's shard is
a stable hash of the member id (:func:`arrival_shard`), and the n-th arrival of a shard takes slot
``n`` of that shard's own blocked dealing (:func:`arrival_arm`, seeded by the campaign and the
shard). Each shard deals complete blocks whatever its share of the arrivals, so only each shard's
last, partial block is off: with ``k`` shards an arm of ``a`` slots in a block of ``B`` is off its
planned share by at most ``k * a * (B - a) / B`` members (a 50/50 split: ``k / 2``) — ``k``
partial blocks instead of one, never growing with the number of arrivals.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd

HOLDOUT = "holdout"
CONTROL = "control"
NO_VARIANT = "-"
# Shards of a triggered campaign's arrivals counter (``ARRIVALS#<campaign>#<shard>``): each takes
# ~1/8 of the campaign's arrivals, 8 x 1,000 writes/s of headroom; more shards cost evenness (one
# partial block each, see the module doc). Changing it moves members to other shards: their stored
# assignments stay, only partial blocks are added.
ARRIVAL_SHARDS = 8


def unit_hash(salt: str, member_id: str) -> int:
    digest = hashlib.blake2b(f"{salt}\x1f{member_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def in_global_control(member_id: str, salt: str, basis_points: int) -> bool:
    """Is the member in the global control group (``basis_points`` of 10 000 members)?"""
    return unit_hash(salt, member_id) % 10_000 < basis_points


@dataclass(frozen=True)
class ArmPlan:
    """The arms of one campaign and their slots in a block."""

    slots: tuple[tuple[str, int], ...]

    @property
    def block(self) -> int:
        return sum(n for _, n in self.slots)

    @property
    def arms(self) -> list[str]:
        return [name for name, _ in self.slots]


def arm_plan(variants: Sequence[str], holdout_percent: int) -> ArmPlan:
    """Variants share ``100 - holdout_percent`` evenly; the holdout takes the rest.

    With n variants: holdout ``h * n`` slots, each variant ``100 - h``, reduced by their gcd
    (two variants, 10 % holdout → 2 + 9 + 9 = a block of 20).
    """
    names = list(variants) or [NO_VARIANT]
    if not 0 <= holdout_percent < 100:
        raise ValueError("holdout_percent is in [0, 100)")
    n = len(names)
    weights = [(name, 100 - holdout_percent) for name in names]
    if holdout_percent:
        weights.append((HOLDOUT, holdout_percent * n))
    divisor = 0
    for _, w in weights:
        divisor = gcd(divisor, w)
    return ArmPlan(tuple((name, w // divisor) for name, w in weights))


def _dealing(plan: ArmPlan, seed: str, block: int) -> list[str]:
    deck = [name for name, n in plan.slots for _ in range(n)]
    random.Random(f"{seed}\x1f{block}").shuffle(deck)  # noqa: S311 - assignment, not secrecy
    return deck


def slot_arm(plan: ArmPlan, seed: str, position: int) -> str:
    """The arm of the ``position``-th member (0-based) of the campaign's dealing."""
    block, offset = divmod(position, plan.block)
    return _dealing(plan, seed, block)[offset]


def arrival_shard(member_id: str, shards: int = ARRIVAL_SHARDS) -> int:
    """The arrivals-counter shard of ``member_id`` for triggered campaigns: stable (a retried event
    counts in the same shard) and independent of the campaign."""
    return unit_hash("arrival-shard", member_id) % shards


def arrival_arm(plan: ArmPlan, campaign_id: str, shard: int, position: int) -> str:
    """The arm of the ``position``-th arrival (0-based) of one arrivals shard: each shard deals its
    own blocked sequence (see the module doc)."""
    return slot_arm(plan, f"{campaign_id}\x1farrivals\x1f{shard}", position)


def assign_arms(member_ids: Sequence[str], plan: ArmPlan, seed: str) -> dict[str, str]:
    """Blocked assignment of a whole audience (see the module docstring)."""
    ordered = sorted(member_ids, key=lambda m: (unit_hash(seed, m), m))
    out: dict[str, str] = {}
    deck: list[str] = []
    for position, member_id in enumerate(ordered):
        offset = position % plan.block
        if offset == 0:
            deck = _dealing(plan, seed, position // plan.block)
        out[member_id] = deck[offset]
    return out


def assignment_bucket(member_id: str, buckets: int) -> int:
    """The launch's assignment bucket holding ``member_id`` (logic/launch.py writes them;
    attribution, erasure and exports read one per launch). Here, not in launch.py, so those
    readers do not import the launch logic."""
    return unit_hash("assignment-bucket", member_id) % buckets
