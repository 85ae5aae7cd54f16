"""Field rules: config validation, each op over a whole column, missing and non-numeric values abstain."""

from __future__ import annotations

import operator

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeling.engine.field_rules import (
    FieldRuleError,
    _word_counts,
    apply_field_rule,
    describe,
    field_rule_mask,
    parse_field_config,
)
from labeling.engine.lfs import LFConfigError

SPAM = 1


def fires(config, column) -> list[bool]:
    return field_rule_mask(parse_field_config(config), column).tolist()


def error(config) -> str:
    with pytest.raises(FieldRuleError) as caught:
        parse_field_config(config)
    return str(caught.value)


# --- numbers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("lt", [True, False, False]),
        ("le", [True, True, False]),
        ("gt", [False, False, True]),
        ("ge", [False, True, True]),
        ("eq", [False, True, False]),
        ("ne", [True, False, True]),
        ("<", [True, False, False]),
        (">=", [False, True, True]),
    ],
)
def test_numeric_comparisons(op, expected):
    assert fires({"field": "stars", "op": op, "value": 3}, [1, 3, 5]) == expected
    assert fires({"field": "stars", "op": op, "value": 3}, pa.array([1.0, 3.0, 5.5])) == expected


def test_between_includes_both_ends():
    config = {"field": "stars", "op": "between", "low": 2, "high": 4}
    assert fires(config, [1, 2, 3, 4, 5]) == [False, True, True, True, False]


def test_missing_and_non_numeric_values_abstain_in_numeric_comparisons():
    column = [1, None, "2", " 0.5 ", "n/a", "", float("nan"), "1e1", True]
    assert fires({"field": "stars", "op": "lt", "value": 3}, column) == [
        True, False, True, True, False, False, False, False, False,
    ]  # fmt: skip
    assert fires({"field": "stars", "op": "ne", "value": 3}, column) == [
        True, False, True, True, False, False, False, True, False,
    ]  # fmt: skip
    votes = apply_field_rule(parse_field_config({"field": "n", "op": "ge", "value": 0}), ["x", None, 4], SPAM)
    assert votes.dtype == np.int16
    assert votes.tolist() == [-1, -1, SPAM]


def test_numbers_written_as_text_are_compared_as_numbers():
    column = pa.array(["10", "9", "-3", "+7", "abc", None])
    assert fires({"field": "age", "op": "gt", "value": 8}, column) == [True, True, False, False, False, False]


def test_booleans_compare_as_zero_and_one():
    assert fires({"field": "verified", "op": "eq", "value": 1}, pa.array([True, False, None])) == [
        True,
        False,
        False,
    ]


# --- equals, in, empty ------------------------------------------------------------------------------------


def test_equals_and_in_match_text():
    column = pa.array(["US", "us", "CA", None, "FR"])
    assert fires({"field": "c", "op": "equals", "value": "US"}, column) == [True, False, False, False, False]
    assert fires({"field": "c", "op": "equals", "value": "US", "case_sensitive": False}, column) == [
        True, True, False, False, False,
    ]  # fmt: skip
    assert fires({"field": "c", "op": "in", "values": ["US", "CA"]}, column) == [
        True,
        False,
        True,
        False,
        False,
    ]
    assert fires({"field": "c", "op": "not_in", "values": ["US", "CA"]}, column) == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert fires({"field": "c", "op": "not_equals", "value": "US"}, column) == [
        False,
        True,
        True,
        False,
        True,
    ]


def test_equals_on_a_numeric_field_compares_numbers():
    assert fires({"field": "stars", "op": "in", "values": [5, "4", "x"]}, [5.0, 4, 3, None]) == [
        True,
        True,
        False,
        False,
    ]
    assert fires({"field": "code", "op": "equals", "value": 3}, ["3", "03", "3.0"]) == [True, False, False]


def test_empty_and_not_empty():
    column = ["", "  ", None, "hi", " x "]
    assert fires({"field": "comment", "op": "empty"}, column) == [True, True, True, False, False]
    assert fires({"field": "comment", "op": "not_empty"}, column) == [False, False, False, True, True]
    assert fires({"field": "score", "op": "empty"}, pa.array([1.0, None, float("nan")])) == [
        False,
        True,
        True,
    ]


# --- text length ------------------------------------------------------------------------------------------


def test_fewer_than_five_words_votes_the_label():
    texts = ["one two three", "one two three four five", "  spaced   out  words  ", "", None]
    rule = parse_field_config({"field": "text", "op": "word_count_lt", "value": 5})
    assert apply_field_rule(rule, texts, 0).tolist() == [0, -1, 0, 0, -1]


def test_character_counts_count_code_points():
    texts = pa.array(["héllo", "hi", "日本語", None], type=pa.large_string())
    assert fires({"field": "text", "op": "char_count_ge", "value": 3}, texts) == [True, False, True, False]
    assert fires({"field": "text", "op": "char_count_between", "low": 2, "high": 3}, texts) == [
        False, True, True, False,
    ]  # fmt: skip
    assert fires({"field": "text", "op": "word_count_between", "low": 1, "high": 1}, texts) == [
        True, True, True, False,
    ]  # fmt: skip


def test_chunked_and_dictionary_columns_work():
    chunked = pa.chunked_array([["a b", "c"], ["d e f"]])
    assert fires({"field": "text", "op": "word_count_gt", "value": 1}, chunked) == [True, False, True]
    dictionary = pa.array(["US", "CA", "US", None]).dictionary_encode()
    assert fires({"field": "c", "op": "equals", "value": "US"}, dictionary) == [True, False, True, False]


def test_an_empty_column_gives_no_votes():
    rule = parse_field_config({"field": "text", "op": "empty"})
    assert apply_field_rule(rule, [], SPAM).shape == (0,)


def test_it_runs_over_a_large_column_without_a_python_loop():
    texts = pa.array(["word " * (i % 9) for i in range(200_000)])
    votes = apply_field_rule(
        parse_field_config({"field": "text", "op": "word_count_lt", "value": 5}), texts, 1
    )
    assert int((votes == 1).sum()) == sum(1 for i in range(200_000) if i % 9 < 5)


# --- configuration ----------------------------------------------------------------------------------------


def test_config_mistakes_get_clear_messages():
    assert error([]) == "config must be an object"
    assert error({"op": "lt", "value": 1}) == "name the field the rule looks at"
    assert error({"field": "x", "op": "lesser", "value": 1}).startswith(
        "unknown op 'lesser'; choose one of lt, le"
    )
    assert error({"field": "x", "op": "lt"}) == "give a number for value"
    assert error({"field": "x", "op": "lt", "value": "three"}) == "value must be a number, got 'three'"
    assert error({"field": "x", "op": "lt", "value": True}) == "value must be a number, got True"
    assert error({"field": "x", "op": "lt", "value": float("inf")}) == "value must be a number, got inf"
    assert (
        error({"field": "x", "op": "between", "low": 5, "high": 1})
        == "low (5) must not be greater than high (1)"
    )
    assert error({"field": "x", "op": "word_count_lt", "value": 2.5}) == (
        "value must be a whole number of words or characters, got 2.5"
    )
    assert error({"field": "x", "op": "in", "values": []}) == 'give a list of values under "values" for in'
    assert (
        error({"field": "x", "op": "in", "values": [["nested"]]})
        == "every value must be text or a number, got ['nested']"
    )
    assert error({"field": "x", "op": "equals"}) == 'give the value to compare with under "value" for equals'
    assert error({"field": "x", "op": "empty", "vaule": 1}).startswith(
        "unknown setting 'vaule'; a field rule takes"
    )
    assert error({"field": "x", "op": "equals", "value": "a", "case_sensitive": "no"}) == (
        "case_sensitive must be true or false"
    )
    assert issubclass(FieldRuleError, LFConfigError) and issubclass(FieldRuleError, ValueError)


def test_parsed_rules_keep_their_op_and_read_in_plain_words():
    rule = parse_field_config({"field": " text ", "op": "word_count_lt", "value": "5"})
    assert (rule.field, rule.op, rule.measure, rule.value, rule.op_name) == (
        "text",
        "lt",
        "words",
        5.0,
        "word_count_lt",
    )
    assert describe(rule) == "text has fewer than 5 words"
    assert describe(parse_field_config({"field": "stars", "op": "between", "low": 1, "high": 2.5})) == (
        "stars is between 1 and 2.5"
    )
    assert describe(
        parse_field_config({"field": "c", "op": "in", "values": ["US", "CA"], "case_sensitive": False})
    ) == ("c is one of 'US', 'CA' (any case)")
    assert describe(parse_field_config({"field": "comment", "op": "empty"})) == "comment is empty"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.text(alphabet=" \t\n\v\x1f\xa0\u2003\u3000aé日-", max_size=12)), max_size=30
    )
)
def test_word_counts_are_what_str_split_finds(texts):
    counts = [None if t is None else len(t.split()) for t in texts]
    # Small thresholds are decided by RE2 "at least k words" matches, large ones by counting with numpy.
    for k in (0, 1, 2, 3, 60):
        for op, holds in (
            ("lt", operator.lt),
            ("le", operator.le),
            ("gt", operator.gt),
            ("ge", operator.ge),
            ("eq", operator.eq),
            ("ne", operator.ne),
        ):
            rule = parse_field_config({"field": "text", "op": f"word_count_{op}", "value": k})
            expected = [c is not None and holds(c, k) for c in counts]
            assert field_rule_mask(rule, texts).tolist() == expected, (op, k)
            assert field_rule_mask(rule, pa.array(texts, type=pa.large_string())).tolist() == expected
    for low, high in ((1, 2), (2, 100)):
        rule = parse_field_config({"field": "text", "op": "word_count_between", "low": low, "high": high})
        assert field_rule_mask(rule, texts).tolist() == [c is not None and low <= c <= high for c in counts]
    if len(texts) > 2:  # a slice and several chunks read their own part of the shared buffers
        sliced = pa.array(texts).slice(1, len(texts) - 2)
        assert _word_counts(sliced).to_pylist() == counts[1:-1]
        chunked = pa.chunked_array([pa.array(texts[:2], pa.string()), pa.array(texts[2:], pa.string())])
        assert _word_counts(chunked).to_pylist() == counts
