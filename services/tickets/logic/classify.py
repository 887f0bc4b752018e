"""Category, topic and sentiment suggested from a ticket's text — Chinese first, English too.

A weighted lexicon (``services/tickets/data/lexicon.json``), not a trained model: it is explainable
to the agent who overrides it (``evidence`` lists the words that decided), needs no model file on
Lambda, runs in microseconds, and an operator can extend it. Chinese phrases match as substrings
of the normalised text (segmentation would hide "积分没到账" split as 积分/没/到账), English terms
match whole words. A positive word right after a negator (不满意, not helpful) does not count as
positive. Accuracy on the shipped labelled set: docs/performance.md (tests/unit/tickets/
test_classification_accuracy.py measures it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from services.tickets.logic.text import normalise

__all__ = [
    "CATEGORIES",
    "Classification",
    "Lexicon",
    "classify",
    "detect_intent",
    "lexicon",
]

CATEGORIES = ("inquiry", "complaint", "after_sales", "points_dispute", "suggestion")
Sentiment = Literal["negative", "neutral", "positive"]
LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "lexicon.json"
_WORDISH = re.compile(r"^[a-z0-9' ]+$")


class _Matcher:
    """Finds which of a set of terms occur in a normalised text."""

    def __init__(self, terms: list[str]) -> None:
        self.substrings = [t for t in terms if not _WORDISH.match(t)]
        words = sorted((t for t in terms if _WORDISH.match(t)), key=len, reverse=True)
        self.words = (
            re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(w) for w in words) + r")(?![a-z0-9])")
            if words
            else None
        )

    def find(self, text: str) -> list[tuple[str, int]]:
        """(term, position of its first occurrence) for each term found."""
        found = [(t, text.find(t)) for t in self.substrings if t in text]
        if self.words is not None:
            seen: set[str] = set()
            for match in self.words.finditer(text):
                if match.group(1) not in seen:
                    seen.add(match.group(1))
                    found.append((match.group(1), match.start()))
        return found


@dataclass(frozen=True)
class Lexicon:
    version: str
    category_weights: dict[str, dict[str, float]]
    category_matchers: dict[str, _Matcher]
    topics: dict[str, _Matcher]
    negative: dict[str, float]
    positive: dict[str, float]
    negative_matcher: _Matcher
    positive_matcher: _Matcher
    negators: tuple[str, ...]
    angry_threshold: float
    intents: dict[str, _Matcher]

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Lexicon:
        categories = {
            c: {normalise(k): float(v) for k, v in raw["categories"][c].items()} for c in CATEGORIES
        }
        sentiment = raw["sentiment"]
        negative = {normalise(k): float(v) for k, v in sentiment["negative"].items()}
        positive = {normalise(k): float(v) for k, v in sentiment["positive"].items()}
        return cls(
            version=str(raw["version"]),
            category_weights=categories,
            category_matchers={c: _Matcher(list(w)) for c, w in categories.items()},
            topics={t: _Matcher([normalise(w) for w in words]) for t, words in raw["topics"].items()},
            negative=negative,
            positive=positive,
            negative_matcher=_Matcher(list(negative)),
            positive_matcher=_Matcher(list(positive)),
            negators=tuple(normalise(n) for n in sentiment["negators"]),
            angry_threshold=float(sentiment["angry_threshold"]),
            intents={i: _Matcher([normalise(w) for w in words]) for i, words in raw["faq_intents"].items()},
        )


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The shipped lexicon, read once per process."""
    return Lexicon.from_dict(json.loads(LEXICON_PATH.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Classification:
    category: str
    topic: str
    sentiment: Sentiment
    sentiment_score: float  # -1 (angry) .. 1 (delighted)
    angry: bool
    confidence: float  # 0..1, of the category
    scores: dict[str, float] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        # Stored in DynamoDB: no floats there (shared.dynamo refuses them), so scores become strings.
        return {
            "status": "classified",
            "category": self.category,
            "topic": self.topic,
            "sentiment": self.sentiment,
            "sentiment_score": f"{self.sentiment_score:.2f}",
            "angry": self.angry,
            "confidence": f"{self.confidence:.2f}",
            "scores": {k: f"{v:.1f}" for k, v in self.scores.items()},
            "evidence": list(self.evidence),
            "model": self.model,
        }


def _negated(text: str, position: int, negators: tuple[str, ...]) -> bool:
    before = text[max(0, position - 4) : position]
    return any(before.endswith(n) or before.endswith(n + " ") for n in negators)


def _sentiment(text: str, lex: Lexicon) -> tuple[Sentiment, float, float, bool, list[str]]:
    negative = 0.0
    positive = 0.0
    evidence: list[str] = []
    for term, _pos in lex.negative_matcher.find(text):
        negative += lex.negative[term]
        evidence.append(term)
    for term, pos in lex.positive_matcher.find(text):
        if _negated(text, pos, lex.negators):
            negative += lex.positive[term]
        else:
            positive += lex.positive[term]
    # Shouting: several exclamation marks (full-width ones are ASCII after NFKC).
    negative += min(text.count("!"), 4) * 0.5 if text.count("!") >= 2 else 0.0
    score = (positive - negative) / (positive + negative + 1.0)
    label: Sentiment = "neutral"
    if negative >= 1.0 and negative > positive:
        label = "negative"
    elif positive >= 1.0 and positive > negative:
        label = "positive"
    return label, score, negative, negative >= lex.angry_threshold and label == "negative", evidence


def classify(text: str, lex: Lexicon | None = None) -> Classification:
    """Suggest category, topic and sentiment for ``text`` (a subject and first message, joined)."""
    lex = lex or lexicon()
    norm = normalise(text)
    scores: dict[str, float] = {}
    evidence: list[tuple[float, str]] = []
    for category in CATEGORIES:
        total = 0.0
        for term, _pos in lex.category_matchers[category].find(norm):
            weight = lex.category_weights[category][term]
            total += weight
            evidence.append((weight, term))
        scores[category] = total
    sentiment, sentiment_score, negative, angry, negative_words = _sentiment(norm, lex)
    # Displeasure is evidence of a complaint (an angry text that names no category is a complaint
    # more often than anything else); half weight, so "refund, this is terrible" stays after-sales.
    if sentiment == "negative":
        scores["complaint"] += 0.5 * negative
    topic_hits = {t: len(m.find(norm)) for t, m in lex.topics.items()}
    topic = max(topic_hits, key=lambda t: topic_hits[t]) if any(topic_hits.values()) else "other"

    ranked = sorted(CATEGORIES, key=lambda c: (-scores[c], CATEGORIES.index(c)))
    best, second = ranked[0], ranked[1]
    total = sum(scores.values())
    if total <= 0:
        # Nothing matched: an inquiry is the safe default (lowest priority, front desk, a person reads it).
        return Classification(
            category="inquiry",
            topic=topic,
            sentiment=sentiment,
            sentiment_score=sentiment_score,
            angry=angry,
            confidence=0.2,
            scores=scores,
            evidence=[],
            model=lex.version,
        )
    share = scores[best] / total
    margin = (scores[best] - scores[second]) / scores[best]
    strength = min(1.0, scores[best] / 4.0)
    confidence = round(max(0.05, min(0.99, 0.5 * share + 0.3 * margin + 0.2 * strength)), 2)
    words = [w for _weight, w in sorted(evidence, key=lambda e: -e[0])][:6]
    return Classification(
        category=best,
        topic=topic,
        sentiment=sentiment,
        sentiment_score=sentiment_score,
        angry=angry,
        confidence=confidence,
        scores=scores,
        evidence=words + [w for w in negative_words if w not in words][:3],
        model=lex.version,
    )


def detect_intent(text: str, lex: Lexicon | None = None) -> str | None:
    """The frequently asked question ``text`` asks (``opening_hours``, ``parking_fee``,
    ``reward_points``), or None. The longest matching phrase decides between two."""
    lex = lex or lexicon()
    norm = normalise(text)
    best: tuple[int, str] | None = None
    for intent, matcher in lex.intents.items():
        for term, _pos in matcher.find(norm):
            if best is None or len(term) > best[0]:
                best = (len(term), intent)
    return best[1] if best else None
