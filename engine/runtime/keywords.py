"""Keyword sets: which declared keyword (first in declaration order) a message contains.

Large sets use an Aho-Corasick automaton (ahocorasick-rs): one pass over the
text whatever the number of keywords. Small sets use a loop of `in` tests,
which benchmarks/bench_keywords.py measures as faster below about 50 keywords
(docs/benchmarks.md has the figures).
"""

from __future__ import annotations

from ahocorasick_rs import AhoCorasick


class KeywordMatcher:
    """Finds the earliest-declared keyword contained in a text."""

    __slots__ = ("keywords", "_automaton")

    def __init__(self, keywords: list[str]):
        self.keywords = [k for k in keywords if k]
        self._automaton = AhoCorasick(self.keywords) if self.keywords else None

    def first(self, text: str) -> int | None:
        """Index (declaration order) of the first declared keyword in text, or None."""
        if self._automaton is None or not text:
            return None
        found = self._automaton.find_matches_as_indexes(text, overlapping=True)
        return min(index for index, _, _ in found) if found else None


AUTOMATON_FROM = 64


def keyword_matcher(keywords: list[str]) -> "KeywordMatcher | NaiveKeywordMatcher":
    """The faster matcher for a keyword set of this size."""
    return KeywordMatcher(keywords) if len(keywords) >= AUTOMATON_FROM else NaiveKeywordMatcher(keywords)


class NaiveKeywordMatcher:
    """The same answer by testing each keyword in turn (faster for small sets)."""

    __slots__ = ("keywords",)

    def __init__(self, keywords: list[str]):
        self.keywords = [k for k in keywords if k]

    def first(self, text: str) -> int | None:
        """Index of the first declared keyword in text, or None."""
        for index, keyword in enumerate(self.keywords):
            if keyword in text:
                return index
        return None
