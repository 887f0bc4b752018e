"""Text handling shared by classification, the knowledge base and erasure: normalising, segmenting
Chinese and English into search terms, and removing personal data from free text.

Chinese is segmented with ``rjieba`` (the Python binding of jieba-rs; why not jieba: docs/decisions.md
2026-11-23). It is imported on first use, not at module import, so the API's cold start pays for the
dictionary (~0.15 s) only when a ticket is classified or the knowledge base is searched. If the
library is missing the segmenter falls back to character bigrams, which BM25 handles well enough
for Chinese, so a packaging mistake degrades ranking instead of failing every request.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

__all__ = [
    "ENGLISH_STOPWORDS",
    "has_cjk",
    "name_forms",
    "normalise",
    "scrub_pii",
    "search_terms",
    "segment",
]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_TOKEN_CHARS = re.compile(r"[\w\u3400-\u4dbf\u4e00-\u9fff]", re.UNICODE)

ENGLISH_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "there",
        "here",
        "what",
        "which",
        "who",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "have",
        "has",
        "had",
        "not",
        "no",
        "so",
        "as",
        "than",
        "too",
        "very",
        "just",
        "please",
        "hi",
        "hello",
        "about",
        "into",
        "out",
        "up",
        "down",
        "over",
        "again",
    ]
)
CHINESE_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "在",
        "和",
        "与",
        "就",
        "都",
        "也",
        "还",
        "很",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "哦",
        "嗯",
        "这",
        "那",
        "个",
        "一",
        "有",
        "被",
        "把",
        "给",
        "让",
        "请问",
        "请",
        "您",
        "我们",
        "你们",
        "一下",
        "一个",
        "这个",
        "那个",
        "什么",
        "怎么",
        "如何",
    ]
)


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), lower case, collapsed whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@lru_cache(maxsize=1)
def _segmenter() -> Callable[[str], list[str]]:
    try:
        import rjieba  # noqa: PLC0415 - heavy (dictionary load): only when text is segmented
    except ImportError:  # pragma: no cover - exercised by test_text's fallback test via monkeypatch
        return _bigrams
    cut: Callable[[str], list[str]] = rjieba.cut
    return cut


def _bigrams(run: str) -> list[str]:
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def segment(text: str) -> list[str]:
    """Words of ``text`` in order: Chinese runs segmented, Latin words split on non-letters.

    Punctuation and whitespace are dropped; nothing else is (stop words stay: classification
    needs "不" and "没有").
    """
    norm = normalise(text)
    words: list[str] = []
    position = 0
    cut = _segmenter()
    for match in _CJK_RUN.finditer(norm):
        words += _LATIN_WORD.findall(norm[position : match.start()])
        words += [w for w in cut(match.group(0)) if _TOKEN_CHARS.search(w)]
        position = match.end()
    words += _LATIN_WORD.findall(norm[position:])
    return words


def _stem(word: str) -> str:
    # Light English stemming (plural and -ing/-ed) so "refunds" finds "refund"; Chinese is untouched.
    if len(word) > 4 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 3 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def search_terms(text: str) -> list[str]:
    """The terms BM25 indexes and queries: segmented words without stop words, English stemmed."""
    terms: list[str] = []
    for word in segment(text):
        if word in ENGLISH_STOPWORDS or word in CHINESE_STOPWORDS:
            continue
        terms.append(_stem(word) if word.isascii() else word)
    return terms


# --- personal data in free text ------------------------------------------------------------------


# The hundred most common Chinese surnames (~85 % of people): a surname followed by a form of address
# ("王先生", "李女士") is a name however the sentence runs, unlike "的先生" or "这位女士".
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_ADDRESS = "先生|女士|小姐|太太|阿姨|师傅|同学|老师"
_CJK_NAME = r"[\u4e00-\u9fff]{2,4}"


@lru_cache(maxsize=1)
def _pii_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    # Compiled on first use (erasure), not at import: they cost ~20 ms of every cold start.
    return (
        (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
        (re.compile(r"(?<![0-9A-Za-z])\d{6}(?:18|19|20)\d{9}[\dXx](?![0-9A-Za-z])"), "[id]"),
        (re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"), "[phone]"),
        (
            re.compile(
                r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Za-z][·\s-]?[A-Za-z0-9]{5,6}"
            ),
            "[plate]",
        ),
        (re.compile(r"(?<!\d)\d{7,}(?!\d)"), "[number]"),
        (re.compile(r"(?:我叫|我是|名字是|姓名[:\uff1a]?)\s*[\u4e00-\u9fff]{1,4}"), "[name]"),
        (re.compile(r"\b(?:[Mm]y name is|I am|I'm)\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?"), "[name]"),
        # Forms of address: "王先生" → "[name]先生", "Ms. Li" → "Ms. [name]".
        (re.compile(rf"[{_SURNAMES}](?={_ADDRESS})"), "[name]"),
        (re.compile(r"\b(Mr|Mrs|Ms|Miss|Dr)(\.?\s+)[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?"), r"\1\2[name]"),
    )


@lru_cache(maxsize=1)
def _name_cues() -> tuple[re.Pattern[str], ...]:
    # Only the strong cues: "我是" ("我是会员") and "I am" ("I am Angry") say too little to learn from.
    return (
        re.compile(rf"(?:我叫|名字是|名字叫|姓名[:\uff1a]?)\s*({_CJK_NAME})"),
        re.compile(r"\b[Mm]y name is\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"),
    )


def name_forms(texts: Iterable[str]) -> set[str]:
    """The names a member gave of themselves somewhere in ``texts`` ("我叫王小明", "My name is John
    Smith"), with the forms they are likely to appear in elsewhere: a Chinese name of three or four
    characters also without its last one (the cue's greedy match may have taken a following
    character), an English name also word by word. Used at erasure to remove those names from
    every text of the member's tickets, where no cue precedes them ("王小明的会员卡丢了")."""
    found: set[str] = set()
    cues = _name_cues()
    for text in texts:
        for name in cues[0].findall(text):
            found.add(name)
            if len(name) >= 3:
                found.add(name[:-1])
        for name in cues[1].findall(text):
            found.add(name)
            found.update(word for word in name.split() if len(word) >= 3)
    return found


def scrub_pii(text: str, names: Iterable[str] = ()) -> str:
    """``text`` with e-mail addresses, id-card, phone and long numbers, car plates, self-stated
    names and surnames in forms of address replaced by placeholders, and every one of ``names``
    (:func:`name_forms` of the member's texts) too (erasure: the ticket keeps what happened, not
    who it was)."""
    for name in sorted(set(names), key=len, reverse=True):  # the full name before its parts
        if name.isascii():
            text = re.sub(rf"\b{re.escape(name)}\b", "[name]", text)
        else:
            text = text.replace(name, "[name]")
    for pattern, placeholder in _pii_patterns():
        text = pattern.sub(placeholder, text)
    return text
