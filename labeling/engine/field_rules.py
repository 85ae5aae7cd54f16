"""Field rules: an LF that looks at one field of a sample, applied to the whole column at once.

A rule compares the field's value (numbers, ranges), matches it (equals, in a list), tests it for being
empty, or measures its text (words, characters) against a number: "fewer than 5 words in text -> HAM".
Everything runs as pyarrow/numpy kernels over the column; a missing value, or a value that is not a number
for a numeric comparison, makes the rule abstain on that sample rather than fail.

Config, as stored and sent by the API:
    {"field": "stars", "op": "lt", "value": 3}        lt le gt ge eq ne (or < <= > >= == !=)
    {"field": "stars", "op": "between", "low": 2, "high": 4}          both ends included
    {"field": "country", "op": "in", "values": ["US", "CA"], "case_sensitive": false}
                                                      equals/not_equals take "value", in/not_in "values"
    {"field": "comment", "op": "empty"}               empty, not_empty (missing or only whitespace)
    {"field": "text", "op": "word_count_lt", "value": 5}
                                                      word_count_* and char_count_*, each comparison + between
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .lfs import LFConfigError
from .matrix import ABSTAIN

COMPARISONS = {"lt": pc.less, "le": pc.less_equal, "gt": pc.greater, "ge": pc.greater_equal,
               "eq": pc.equal, "ne": pc.not_equal}  # fmt: skip
SYMBOLS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
MEASURES = {"": "value", "word_count_": "words", "char_count_": "chars"}
MATCHES = ("equals", "not_equals", "in", "not_in")
EMPTINESS = ("empty", "not_empty")
OPS = (
    tuple(f"{prefix}{cmp}" for prefix in MEASURES for cmp in (*COMPARISONS, "between")) + MATCHES + EMPTINESS
)
KEYS = frozenset({"field", "op", "value", "low", "high", "values", "case_sensitive"})
MAX_VALUES = 10_000
WORD_COUNT_PIECE = 1 << 16  # texts per numpy pass: bounds the temporary arrays to a few tens of MB
# Whitespace as str.split() sees it: ASCII 9-13 and 28-32 (see _spaces), and these, found in the UTF-8:
# U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000
_WIDE = [chr(c).encode() for c in (0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F,
                                   0x205F, 0x3000)]  # fmt: skip
WIDE_SPACES_2 = np.array([int.from_bytes(b, "big") for b in _WIDE if len(b) == 2], dtype=np.int32)
WIDE_SPACES_3 = np.array([int.from_bytes(b, "big") for b in _WIDE if len(b) == 3], dtype=np.int32)
WORD_PATTERN_MAX = 50  # beyond this many words, counting them (_word_counts) is the cheaper way
SPACE_CLASS = (
    r"[\t\n\v\f\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
WORD_CLASS = "[^" + SPACE_CLASS[1:]
WIDE_SPACE_LEAD_BYTES = np.array(sorted({b[0] for b in _WIDE}), dtype=np.uint8)
# What counts as a number inside a text field: optional sign, digits with an optional fraction, exponent.
NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"


class FieldRuleError(LFConfigError):
    """The field rule's configuration is not usable; the message says what to change."""


@dataclass(frozen=True)
class FieldRule:
    field: str
    op: str  # canonical: lt, le, gt, ge, eq, ne, between, equals, not_equals, in, not_in, empty, not_empty
    measure: str = "value"  # what is compared: the value itself, its number of words or of characters
    value: float | None = None
    low: float | None = None
    high: float | None = None
    values: tuple[str | float, ...] = ()
    case_sensitive: bool = True

    @property
    def op_name(self) -> str:
        """The op as written in a config (word_count_lt, between, in, ...)."""
        prefix = {v: k for k, v in MEASURES.items()}[self.measure]
        return prefix + self.op


def _number(config: dict, key: str, *, count: bool) -> float:
    if key not in config:
        raise FieldRuleError(f"give {'a count' if count else 'a number'} for {key}")
    raw = config[key]
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            raise FieldRuleError(f"{key} must be a number, got {config[key]!r}") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise FieldRuleError(f"{key} must be a number, got {config[key]!r}")
    if count and (raw < 0 or raw != int(raw)):
        raise FieldRuleError(f"{key} must be a whole number of {'words or characters'}, got {config[key]!r}")
    return float(raw)


def _match_value(raw, key: str) -> str | float:
    if (
        isinstance(raw, bool)
        or not isinstance(raw, str | int | float)
        or (isinstance(raw, float) and not math.isfinite(raw))
    ):
        raise FieldRuleError(f"{key} must be text or a number, got {raw!r}")
    return raw


def parse_field_config(config) -> FieldRule:
    """A FieldRule from its config, or FieldRuleError naming what is wrong."""
    if not isinstance(config, dict):
        raise FieldRuleError("config must be an object")
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise FieldRuleError(f"unknown setting {unknown[0]!r}; a field rule takes {', '.join(sorted(KEYS))}")
    field = config.get("field")
    if not isinstance(field, str) or not field.strip():
        raise FieldRuleError("name the field the rule looks at")
    op = config.get("op")
    op = SYMBOLS.get(op, op) if isinstance(op, str) else op
    if op not in OPS:
        raise FieldRuleError(f"unknown op {config.get('op')!r}; choose one of {', '.join(OPS)}")
    case_sensitive = config.get("case_sensitive", True)
    if not isinstance(case_sensitive, bool):
        raise FieldRuleError("case_sensitive must be true or false")
    field = field.strip()
    if op in EMPTINESS:
        return FieldRule(field, op, case_sensitive=case_sensitive)
    if op in MATCHES:
        if op in ("equals", "not_equals"):
            if "value" not in config:
                raise FieldRuleError(f'give the value to compare with under "value" for {op}')
            values: tuple[str | float, ...] = (_match_value(config["value"], "value"),)
        else:
            raw = config.get("values")
            if not isinstance(raw, list | tuple) or not raw:
                raise FieldRuleError(f'give a list of values under "values" for {op}')
            if len(raw) > MAX_VALUES:
                raise FieldRuleError(f"at most {MAX_VALUES} values")
            values = tuple(dict.fromkeys(_match_value(v, "every value") for v in raw))
        return FieldRule(field, op, values=values, case_sensitive=case_sensitive)
    prefix = next(p for p in sorted(MEASURES, key=len, reverse=True) if op.startswith(p))
    measure, cmp = MEASURES[prefix], op[len(prefix) :]
    count = measure != "value"
    if cmp == "between":
        low, high = _number(config, "low", count=count), _number(config, "high", count=count)
        if low > high:
            raise FieldRuleError(f"low ({config['low']}) must not be greater than high ({config['high']})")
        return FieldRule(field, cmp, measure, low=low, high=high)
    return FieldRule(field, cmp, measure, value=_number(config, "value", count=count))


# --- application ------------------------------------------------------------------------------------------


def _as_array(column) -> pa.Array | pa.ChunkedArray:
    if isinstance(column, pa.ChunkedArray | pa.Array):
        array = column
    elif isinstance(column, np.ndarray) and column.dtype != object:
        array = pa.array(column)
    else:
        values = list(column)
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types (numbers and text in one JSON field): compare them in their text form.
            array = pa.array([None if v is None else str(v) for v in values], type=pa.large_string())
    if pa.types.is_dictionary(array.type):
        array = pc.cast(array, array.type.value_type)
    return array


def _is_text(array) -> bool:
    return pa.types.is_string(array.type) or pa.types.is_large_string(array.type)


def _is_number(array) -> bool:
    t = array.type
    return (
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t)
    )


def _numbers(array):
    """float64 values, null where missing, NaN or not a number."""
    if _is_number(array):
        numbers = pc.cast(array, pa.float64(), safe=False)
    elif _is_text(array):
        text = pc.utf8_trim_whitespace(array)
        text = pc.if_else(pc.match_substring_regex(text, NUMBER), text, pa.scalar(None, text.type))
        numbers = pc.cast(text, pa.float64())
    else:
        return pa.nulls(len(array), pa.float64())
    return pc.if_else(pc.is_nan(numbers), pa.scalar(None, pa.float64()), numbers)


def _texts(array):
    if _is_text(array):
        return array
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.large_string())
    return pc.cast(array, pa.large_string())


def _spaces(data: np.ndarray) -> np.ndarray:
    """Which bytes belong to a whitespace character (so words are what str.split() finds)."""
    # Comparisons rather than a 256-entry table lookup: they vectorize, the lookup costs ~3x as much.
    space = data == 32
    space |= (data - np.uint8(9)) <= 4  # \t \n \v \f \r (the subtraction wraps below 9)
    space |= (data - np.uint8(28)) <= 3  # \x1c-\x1f
    if not (data >= 0xC2).any():
        return space
    leads = np.flatnonzero(np.isin(data, WIDE_SPACE_LEAD_BYTES))
    if leads.size:
        last = data.size - 1
        b0, b1, b2 = (data[np.minimum(leads + k, last)].astype(np.int32) for k in range(3))
        two = np.isin((b0 << 8) | b1, WIDE_SPACES_2) & (leads + 1 <= last)
        three = np.isin((b0 << 16) | (b1 << 8) | b2, WIDE_SPACES_3) & (leads + 2 <= last)
        for k in range(3):
            space[leads[three] + k] = True
            if k < 2:
                space[leads[two] + k] = True
    return space


def _word_counts(text) -> pa.ChunkedArray:
    """Words (runs of non-whitespace) per text, null where missing, counted on the UTF-8 bytes with numpy.

    A regex count (RE2, \\S+) costs ~20x more; splitting into lists ~2x and allocates every word.
    """
    counts, text = [], _texts(text)
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        for first in range(0, len(chunk), WORD_COUNT_PIECE):
            piece = chunk.slice(first, WORD_COUNT_PIECE)
            _, offsets_buffer, data_buffer = piece.buffers()
            offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
                piece.offset : piece.offset + len(piece) + 1
            ]
            low, high = int(offsets[0]), int(offsets[-1])
            words = np.zeros(len(piece), dtype=np.int64)
            if high > low:
                space = _spaces(np.frombuffer(data_buffer, dtype=np.uint8)[low:high])
                starts = ~space  # a word starts at a non-space byte after a space, or at a text's first byte
                starts[1:] &= space[:-1]
                bounds = (offsets - low).astype(np.int64)
                filled = bounds[1:] > bounds[:-1]
                firsts = bounds[:-1][filled]
                starts[firsts] = ~space[firsts]
                # Empty texts own no bytes, so consecutive first bytes delimit each filled text's bytes.
                words[filled] = np.add.reduceat(starts.view(np.uint8), firsts, dtype=np.int32)
            counts.append(pa.array(words, mask=pc.is_null(piece).to_numpy(zero_copy_only=False)))
    return pa.chunked_array(counts, type=pa.int64())


def _word_thresholds(rule: FieldRule) -> tuple[int, ...]:
    """The k for which "at least k words" decides the rule (see _few_words)."""
    v, low, high = (int(x) if x is not None else 0 for x in (rule.value, rule.low, rule.high))
    return {"lt": (v,), "ge": (v,), "le": (v + 1,), "gt": (v + 1,), "eq": (v, v + 1), "ne": (v, v + 1),
            "between": (low, high + 1)}[rule.op]  # fmt: skip


def _at_least_words(text, k: int):
    if k <= 0:  # every text has at least 0 words; a missing one stays missing (null)
        return pc.greater_equal(pc.utf8_length(text), 0)
    return pc.match_substring_regex(
        text, f"^{SPACE_CLASS}*(?:{WORD_CLASS}+{SPACE_CLASS}+){{{k - 1}}}{WORD_CLASS}"
    )


def _few_words(rule: FieldRule, text):
    """A word-count rule from "at least k words" tests: an RE2 match stops after k words instead of counting
    them all, several times faster than counting for the small k rules use ("fewer than 5 words")."""
    at_least = {k: _at_least_words(text, k) for k in _word_thresholds(rule)}
    first, *rest = at_least.values()
    if rule.op == "ge" or rule.op == "gt":
        return first
    if rule.op == "lt" or rule.op == "le":
        return pc.invert(first)
    exactly = pc.and_(first, pc.invert(rest[0]))  # at least k and not at least k + 1 (or high + 1)
    return pc.invert(exactly) if rule.op == "ne" else exactly


def _measured(rule: FieldRule, array):
    if rule.measure == "value":
        return _numbers(array)
    text = _texts(array)
    if rule.measure == "words":
        return _word_counts(text)
    return pc.utf8_length(text)


def _emptiness(array):
    missing = pc.is_null(array, nan_is_null=True)
    if _is_text(array):
        missing = pc.or_(missing, pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(array)), 0))
    return pc.fill_null(missing, True)


def _matches(rule: FieldRule, array):
    if _is_number(array):
        numbers = [float(v) for v in rule.values if isinstance(v, int | float)]
        for v in rule.values:
            if isinstance(v, str):
                try:
                    numbers.append(float(v))
                except ValueError:
                    pass  # text that is no number matches no number
        subject, options = _numbers(array), pa.array(numbers, type=pa.float64())
    else:
        subject = _texts(array)
        options = pa.array(
            [v if isinstance(v, str) else _number_text(v) for v in rule.values], pa.large_string()
        )
        if not rule.case_sensitive:
            subject, options = pc.utf8_lower(subject), pc.utf8_lower(options)
    hit = pc.is_in(subject, value_set=options)
    if rule.op in ("not_equals", "not_in"):
        hit = pc.and_(pc.invert(hit), pc.is_valid(subject))  # a missing value is not "not in"
    return hit


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def field_rule_mask(rule: FieldRule, column) -> np.ndarray:
    """Boolean mask over the column: where the rule fires (never where the value is missing)."""
    array = _as_array(column)
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    if rule.op in EMPTINESS:
        hit = _emptiness(array)
        if rule.op == "not_empty":
            hit = pc.invert(hit)
    elif rule.op in MATCHES:
        hit = _matches(rule, array)
    elif rule.measure == "words" and max(_word_thresholds(rule)) <= WORD_PATTERN_MAX:
        hit = _few_words(rule, _texts(array))
    else:
        subject = _measured(rule, array)
        if rule.op == "between":
            hit = pc.and_(pc.greater_equal(subject, rule.low), pc.less_equal(subject, rule.high))
        else:
            hit = COMPARISONS[rule.op](subject, rule.value)
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


def apply_field_rule(rule: FieldRule, column, label: int) -> np.ndarray:
    """Votes (int16): label where the rule fires, ABSTAIN elsewhere."""
    mask = field_rule_mask(rule, column)
    votes = np.full(mask.shape[0], ABSTAIN, dtype=np.int16)
    votes[mask] = label
    return votes


def describe(rule: FieldRule) -> str:
    """The rule in plain words, for lists and the dashboard: 'text has fewer than 5 words'."""
    number = _number_text
    if rule.op in EMPTINESS:
        return f"{rule.field} is {'empty' if rule.op == 'empty' else 'not empty'}"
    if rule.op in MATCHES:
        shown = ", ".join(repr(v) for v in rule.values)
        verb = {"equals": "is", "not_equals": "is not", "in": "is one of", "not_in": "is none of"}[rule.op]
        return f"{rule.field} {verb} {shown}" + ("" if rule.case_sensitive else " (any case)")
    words = {"lt": "less than", "le": "at most", "gt": "more than", "ge": "at least", "eq": "exactly",
             "ne": "other than"}  # fmt: skip
    if rule.measure == "value":
        if rule.op == "between":
            return f"{rule.field} is between {number(rule.low)} and {number(rule.high)}"
        return f"{rule.field} is {words[rule.op]} {number(rule.value)}"
    unit = "words" if rule.measure == "words" else "characters"
    if rule.op == "between":
        return f"{rule.field} has {number(rule.low)} to {number(rule.high)} {unit}"
    amount = "fewer than" if rule.op == "lt" else words[rule.op]
    return f"{rule.field} has {amount} {number(rule.value)} {unit}"
