"""Keyword matching gives the earliest-declared keyword contained in a text, whichever matcher."""

from __future__ import annotations

import pytest

from engine.runtime.keywords import AUTOMATON_FROM, KeywordMatcher, NaiveKeywordMatcher, keyword_matcher


@pytest.mark.parametrize("matcher_type", [KeywordMatcher, NaiveKeywordMatcher])
def test_first_declared_keyword_wins(matcher_type):
    matcher = matcher_type(["开票", "发票", "票"])
    assert matcher.first("能开发票吗") == 1          # 发票 (index 1) and 票 (2) occur; 开票 does not
    assert matcher.first("开票吗") == 0
    assert matcher.first("在吗") is None
    assert matcher.first("") is None


def test_size_picks_the_matcher():
    assert isinstance(keyword_matcher(["a"] * 3), NaiveKeywordMatcher)
    assert isinstance(keyword_matcher([f"k{i}" for i in range(AUTOMATON_FROM)]), KeywordMatcher)


def test_empty_keyword_set():
    assert KeywordMatcher([]).first("anything") is None
