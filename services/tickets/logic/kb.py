"""Knowledge base: BM25 ranking over segmented text, suggestions for a new ticket, and the
automatic first answer to frequently asked questions.

**BM25** (Okapi, k1 = 1.2, b = 0.75) over :func:`services.tickets.logic.text.search_terms` — Chinese
segmented by jieba-rs, English lower-cased and lightly stemmed; a title counts twice. The index is
an in-memory inverted index with each document's length normalisation precomputed, so a query costs
one pass over the postings of its few terms (bench/tickets_kb.py: 10,000 articles).

**Automatic answers** (:func:`auto_answer`): opening hours and parking fees come from the
operators' published article for that question (``intent``), so the answer is whatever the mall
published last; "how many points does a reward need" is answered from loyalty's live rewards
catalogue (contract A, ``list_rewards``), never from stored text.
"""

from __future__ import annotations

import heapq
import json
import math
import sys
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.tickets.logic.classify import detect_intent
from services.tickets.logic.messages import say
from services.tickets.logic.text import normalise, search_terms
from services.tickets.logic.tickets import AutoAnswer
from services.tickets.models.entities import KbArticle

__all__ = [
    "ArticleCard",
    "Bm25Index",
    "Hit",
    "KbSnapshot",
    "article_text",
    "auto_answer",
    "reward_answer",
    "term_counts",
]

ANSWER_LIMIT = 600
EXCERPT = 120
SNAPSHOT_MAGIC = b"KBX1"
SNAPSHOT_FORMAT = "mallcrm.kb-index.v1"


@dataclass(frozen=True)
class Hit:
    article_id: str
    score: float


class Bm25Index:
    """An immutable BM25 index of documents ``(doc_id, text)``.

    A term's contribution to a document's score does not depend on the query, so it is computed
    once, at build time: a search only adds up precomputed weights along its terms' postings.

    The postings are kept as two flat arrays (document numbers, weights) with a directory of
    ``term -> (offset, count)``; a term's posting becomes a dict the first time a query uses it. That
    makes the index cheap to serialise (:meth:`to_bytes`) and a stored one cheap to load
    (:meth:`from_bytes`: decompress, read the directory, two ``array.frombytes``) — a cold function
    loads a 10,000-article index instead of building it (bench/tickets_kb.py).
    """

    def __init__(self, documents: Iterable[tuple[str, str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self._build(((doc_id, Counter(search_terms(text))) for doc_id, text in documents), k1, b)

    @classmethod
    def from_term_counts(
        cls, documents: Iterable[tuple[str, Mapping[str, int]]], *, k1: float = 1.2, b: float = 0.75
    ) -> Bm25Index:
        """The index from each document's term counts (:func:`term_counts`, stored with the article
        when it is written): no segmentation at build time, which is most of a cold build."""
        index = cls.__new__(cls)
        index._build(documents, k1, b)
        return index

    def _build(self, documents: Iterable[tuple[str, Mapping[str, int]]], k1: float, b: float) -> None:
        self.ids: list[str] = []
        raw: dict[str, list[tuple[int, int]]] = {}
        lengths: list[int] = []
        for doc_id, counts in documents:
            index = len(self.ids)
            self.ids.append(doc_id)
            lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                raw.setdefault(term, []).append((index, tf))
        n = len(self.ids)
        average = (sum(lengths) / n) if n else 0.0
        # Per-document part of the denominator: k1 * (1 - b + b * |d| / avgdl).
        norm = [k1 * (1 - b + b * (length / average if average else 0.0)) for length in lengths]
        self._directory: dict[str, tuple[int, int]] = {}
        self._docs = array("I")
        self._weights = array("d")
        for term in sorted(raw):  # sorted: the same articles give the same bytes
            posting = raw[term]
            idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
            self._directory[term] = (len(self._docs), len(posting))
            self._docs.extend(doc for doc, _tf in posting)
            self._weights.extend(idf * tf * (k1 + 1) / (tf + norm[doc]) for doc, tf in posting)
        self._decoded: dict[str, dict[int, float]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def term_count(self) -> int:
        return len(self._directory)

    def _posting(self, term: str) -> dict[int, float] | None:
        posting = self._decoded.get(term)
        if posting is None:
            place = self._directory.get(term)
            if place is None:
                return None
            start, count = place
            posting = dict(
                zip(self._docs[start : start + count], self._weights[start : start + count], strict=True)
            )
            self._decoded[term] = posting  # warm functions decode each term once
        return posting

    def search(self, query: str, limit: int = 5) -> list[Hit]:
        postings = [p for t in set(search_terms(query)) if (p := self._posting(t)) is not None]
        if not postings:
            return []
        # Start from the longest posting (a dict copy runs in C), add the others to it.
        postings.sort(key=len, reverse=True)
        scores = dict(postings[0])
        get = scores.get
        for posting in postings[1:]:
            for doc, weight in posting.items():
                scores[doc] = get(doc, 0.0) + weight
        best = heapq.nlargest(limit, scores, key=scores.__getitem__)  # ties: the earlier document
        return [Hit(self.ids[doc], round(scores[doc], 4)) for doc in best]


def _iso(moment: datetime) -> str:
    # One fixed format (microseconds always, Z) so that the strings order as the times do.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class ArticleCard:
    """What a search hit shows and what choosing an automatic answer needs, kept in the snapshot
    so that neither reads the 10,000 articles."""

    title: str
    excerpt: str
    intent: str | None
    updated_at: str  # ISO 8601 UTC: orders the articles of one intent


@dataclass(frozen=True)
class KbSnapshot:
    """The published articles' index and cards at one knowledge-base ``version`` (``KB``/``META``)."""

    version: int
    index: Bm25Index
    cards: dict[str, ArticleCard]

    @classmethod
    def build(
        cls, version: int, articles: Iterable[tuple[KbArticle, Mapping[str, int] | None]]
    ) -> KbSnapshot:
        """From the articles and the term counts stored with them (segmented here when missing);
        drafts are left out."""
        rows = [(a, terms) for a, terms in articles if a.status == "published"]
        index = Bm25Index.from_term_counts(
            (a.article_id, terms if terms is not None else term_counts(article_text(a))) for a, terms in rows
        )
        cards = {
            a.article_id: ArticleCard(a.title, a.body[:EXCERPT], a.intent, _iso(a.updated_at))
            for a, _t in rows
        }
        return cls(version, index, cards)

    def newest_for_intent(self, intent: str) -> str | None:
        """The article id of the newest published article answering ``intent``."""
        best: tuple[str, str] | None = None
        for article_id, card in self.cards.items():
            if card.intent == intent and (best is None or card.updated_at > best[0]):
                best = (card.updated_at, article_id)
        return best[1] if best else None

    def to_bytes(self) -> bytes:
        """``KBX1`` + zlib(header length (4 bytes, big-endian) + JSON header + document numbers
        (uint32, little-endian) + weights (float64, little-endian))."""
        index = self.index
        terms = list(index._directory)
        header = {
            "format": SNAPSHOT_FORMAT,
            "version": self.version,
            "ids": index.ids,
            "terms": terms,
            "counts": [index._directory[t][1] for t in terms],
            "cards": [[i, *self._card_row(self.cards[i])] for i in index.ids],
        }
        head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
        docs, weights = array("I", index._docs), array("d", index._weights)
        if sys.byteorder == "big":  # pragma: no cover - Lambda and this machine are little-endian
            docs.byteswap()
            weights.byteswap()
        body = len(head).to_bytes(4, "big") + head + docs.tobytes() + weights.tobytes()
        return SNAPSHOT_MAGIC + zlib.compress(body, 6)

    @staticmethod
    def _card_row(card: ArticleCard) -> list[Any]:
        return [card.title, card.excerpt, card.intent, card.updated_at]

    @classmethod
    def from_bytes(cls, blob: bytes) -> KbSnapshot:
        """The snapshot :meth:`to_bytes` wrote; ``ValueError`` for anything else."""
        if not blob.startswith(SNAPSHOT_MAGIC):
            raise ValueError("not a knowledge-base snapshot")
        try:
            body = zlib.decompress(blob[len(SNAPSHOT_MAGIC) :])
        except zlib.error as exc:
            raise ValueError("corrupt knowledge-base snapshot") from exc
        size = int.from_bytes(body[:4], "big")
        header = json.loads(body[4 : 4 + size])
        if header.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unknown snapshot format {header.get('format')!r}")
        counts: list[int] = header["counts"]
        total = sum(counts)
        docs, weights = array("I"), array("d")
        start = 4 + size
        docs.frombytes(body[start : start + total * docs.itemsize])
        weights.frombytes(
            body[start + total * docs.itemsize : start + total * (docs.itemsize + weights.itemsize)]
        )
        if len(docs) != total or len(weights) != total:
            raise ValueError("truncated knowledge-base snapshot")
        if sys.byteorder == "big":  # pragma: no cover
            docs.byteswap()
            weights.byteswap()
        index = Bm25Index.__new__(Bm25Index)
        index.ids = list(header["ids"])
        index._docs, index._weights, index._decoded = docs, weights, {}
        directory: dict[str, tuple[int, int]] = {}
        offset = 0
        for term, count in zip(header["terms"], counts, strict=True):
            directory[term] = (offset, count)
            offset += count
        index._directory = directory
        cards = {row[0]: ArticleCard(row[1], row[2], row[3], row[4]) for row in header["cards"]}
        return cls(int(header["version"]), index, cards)


def term_counts(text: str) -> dict[str, int]:
    """What the index needs of a document, computed once when the article is written."""
    return dict(Counter(search_terms(text)))


def article_text(article: KbArticle) -> str:
    # The title twice: a title word says more about an article than a body word.
    return f"{article.title}\n{article.title}\n{' '.join(article.tags)}\n{article.body}"


def _clip(text: str) -> str:
    return text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 1] + "…"


def reward_answer(question: str, rewards: Sequence[Mapping[str, Any]]) -> str | None:
    """The points each reward the question names needs, and whether it is in stock; the five cheapest
    when it names none; None when the catalogue is empty."""
    if not rewards:
        return None
    norm = normalise(question)
    named = [r for r in rewards if normalise(str(r.get("name", ""))) and normalise(str(r["name"])) in norm]
    if not named:
        terms = set(search_terms(question))
        named = [r for r in rewards if terms & set(search_terms(str(r.get("name", ""))))]
    lines = []
    shown = named or sorted(rewards, key=lambda r: int(r.get("points_cost", 0)))[:5]
    for reward in shown:
        stock = say("reward_in_stock" if reward.get("in_stock") else "reward_out_of_stock")
        lines.append(say("reward_line", name=reward["name"], points=int(reward["points_cost"]), stock=stock))
    intro = "" if named else say("reward_intro")
    return intro + say("reward_separator").join(lines) + say("reward_outro")


def auto_answer(
    text: str,
    *,
    article_for: Callable[[str], KbArticle | None],
    rewards: Callable[[], Sequence[Mapping[str, Any]]],
) -> AutoAnswer | None:
    """The automatic first answer for ``text``, or None (a person answers). ``article_for(intent)``
    gives the newest published article for a question and is called only when the text asks one;
    ``rewards`` only for a rewards question; if it fails, a person answers."""
    intent = detect_intent(text)
    if intent is None:
        return None
    if intent == "reward_points":
        try:
            body = reward_answer(text, rewards())
        except Exception:  # loyalty unreachable: no stale answer, a person answers
            return None
        return AutoAnswer(intent=intent, body=body) if body else None
    article = article_for(intent)
    if article is None or article.status != "published":
        return None
    return AutoAnswer(
        intent=intent,
        body=_clip(say("article_answer", title=article.title, body=article.body)) + say("article_outro"),
        article_id=article.article_id,
    )
