"""Keyword and regex LFs over a column of texts (RE2, vectorised)."""

import numpy as np
import pytest

from labeling.engine.lfs import ALTERNATION_SIZE, TOKEN_LOOKUP_FROM, LFConfigError, apply, parse_config, spans

TEXTS = ["check this", "a songbird", "my SONG", "café au lait", "un café.", "check-out now", "", "Über alles"]


def votes(config, texts=TEXTS, kind="keyword"):
    return apply(kind, config, 1, texts).tolist()


def test_whole_word_keywords_ignore_case_by_default():
    assert votes({"keywords": ["Check", "song"]}) == [1, -1, 1, -1, -1, 1, -1, -1]


def test_whole_words_respect_letters_outside_ascii():
    assert votes({"keywords": ["café"]}) == [-1, -1, -1, 1, 1, -1, -1, -1]
    assert votes({"keywords": ["über"]}) == [-1, -1, -1, -1, -1, -1, -1, 1]
    assert votes({"keywords": ["ber"]}) == [-1] * 8


def test_substring_keywords_match_inside_words():
    assert votes({"keywords": ["song"], "whole_word": False}) == [-1, 1, 1, -1, -1, -1, -1, -1]


def test_case_sensitive_keywords():
    assert votes({"keywords": ["SONG"], "case_sensitive": True}) == [-1, -1, 1, -1, -1, -1, -1, -1]


def test_all_mode_needs_every_keyword():
    assert votes({"keywords": ["check", "now"], "mode": "all"}) == [-1, -1, -1, -1, -1, 1, -1, -1]


def test_a_multi_word_keyword_matches_the_phrase():
    assert votes({"keywords": ["my song"]}) == [-1, -1, 1, -1, -1, -1, -1, -1]


@pytest.mark.parametrize("size", [ALTERNATION_SIZE + 5, TOKEN_LOOKUP_FROM + 5])
def test_large_word_lists_give_the_same_votes_as_small_ones(size):
    filler = [f"zz{i}word" for i in range(size)]
    small = votes({"keywords": ["café", "song", "check out"]})
    assert votes({"keywords": [*filler, "café", "song", "check out"]}) == small


def test_regex_uses_search_semantics():
    assert votes({"pattern": r"(?i)check.*out"}, kind="regex") == [-1, -1, -1, -1, -1, 1, -1, -1]


def test_a_pattern_re2_cannot_run_is_refused_with_its_message():
    with pytest.raises(LFConfigError, match="cannot be used"):
        parse_config("regex", {"pattern": r"(a)\1"})
    with pytest.raises(LFConfigError, match="missing \\)"):
        parse_config("regex", {"pattern": "(a"})


def test_a_catastrophic_pattern_runs_in_linear_time():
    texts = ["a" * 5_000 + "!"] * 20
    assert np.all(apply("regex", {"pattern": "(a+)+$"}, 1, texts) == -1)


def test_spans_are_code_points_of_the_keyword_only():
    cfg = parse_config("keyword", {"keywords": ["café", "song"]})
    assert spans(cfg, "un café, my 🎵 song!") == [(3, 7), (14, 18)]


def test_bad_keyword_configs_name_the_problem():
    with pytest.raises(LFConfigError, match="at least one keyword"):
        parse_config("keyword", {"keywords": [" "]})
    with pytest.raises(LFConfigError, match="mode"):
        parse_config("keyword", {"keywords": ["a"], "mode": "some"})
