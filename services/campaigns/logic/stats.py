"""Statistics for campaign reports: pure functions, no dependencies beyond the standard library.

Difference of two proportions (treatment - control) with **Newcombe's hybrid score interval**
(Newcombe 1998, method 10): each proportion gets a Wilson score interval, and the two are combined
by the square-and-add rule. Unlike the Wald interval it stays inside [-1, 1], behaves with zero
conversions and small groups, and has close to nominal coverage — campaign conversion rates are
small, which is where Wald fails most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


def z_for(confidence: float) -> float:
    """Two-sided critical value (0.95 → 1.95996…)."""
    if not 0 < confidence < 1:
        raise ValueError("confidence is in (0, 1)")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for ``successes / n`` (``n`` = 0: the uninformative [0, 1])."""
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError("need 0 <= successes <= n")
    if n == 0:
        return Interval(0.0, 1.0)
    z = z_for(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 or n successes the bound is exactly 0 or 1 (floating point leaves ~1e-17 otherwise).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


@dataclass(frozen=True)
class Difference:
    """``p1 - p2`` with its interval."""

    estimate: float
    interval: Interval
    confidence: float

    @property
    def significant(self) -> bool:
        return self.interval.excludes_zero()


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Difference | None:
    """Newcombe hybrid score interval for ``x1/n1 - x2/n2``; None when a group is empty."""
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    w1, w2 = wilson(x1, n1, confidence), wilson(x2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2)
    high = d + math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2)
    return Difference(d, Interval(max(-1.0, low), min(1.0, high)), confidence)


@dataclass(frozen=True)
class Arm:
    name: str
    converted: int
    size: int

    @property
    def rate(self) -> float:
        return self.converted / self.size if self.size else 0.0


@dataclass(frozen=True)
class Winner:
    name: str | None
    reason: str


def declare_winner(arms: list[Arm], confidence: float = 0.95) -> Winner:
    """The best arm, only if it beats *every* other arm significantly.

    With k arms the best is compared with k - 1 others: Bonferroni keeps the family-wise error at
    1 - ``confidence`` (each comparison at 1 - (1 - confidence)/(k - 1))."""
    if len(arms) < 2:
        return Winner(None, "not an A/B test")
    ranked = sorted(arms, key=lambda a: (-a.rate, a.name))
    best = ranked[0]
    level = 1 - (1 - confidence) / (len(arms) - 1)
    for other in ranked[1:]:
        diff = newcombe_difference(best.converted, best.size, other.converted, other.size, level)
        if diff is None or not diff.interval.low > 0:
            return Winner(None, f"no significant difference between {best.name} and {other.name}")
    return Winner(best.name, f"better than every other variant at {confidence:.0%} (Bonferroni)")
