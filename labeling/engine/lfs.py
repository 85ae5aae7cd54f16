"""Keyword and regex labeling functions applied to a whole column of texts at once.

Patterns run on RE2 (through pyarrow's vectorised kernels, and google-re2 for match spans), whose running
time is linear in the text: no pattern a user writes can hang a worker or the web server.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import re2

from .matrix import ABSTAIN

MAX_KEYWORDS = 200_000
MAX_PATTERN_CHARS = 2_000


class LFConfigError(ValueError):
    """The LF's configuration is not usable; the message says what to change."""


@dataclass(frozen=True)
class KeywordConfig:
    keywords: tuple[str, ...]
    whole_word: bool = True
    case_sensitive: bool = False
    mode: str = "any"  # "any": one keyword is enough; "all": every keyword must occur


@dataclass(frozen=True)
class RegexConfig:
    pattern: str


def _re2_error(pattern: str) -> str | None:
    try:
        re2.compile(pattern)
    except re2.error as exc:
        message = exc.args[0] if exc.args else str(exc)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        return str(message)
    return None


def parse_config(kind: str, config) -> KeywordConfig | RegexConfig:
    if not isinstance(config, dict):
        raise LFConfigError("config must be an object")
    if kind == "keyword":
        raw = config.get("keywords")
        if isinstance(raw, str):
            raw = [part for line in raw.splitlines() for part in line.split(",")]
        if not isinstance(raw, list | tuple):
            raise LFConfigError("keywords must be a list of words")
        words = tuple(dict.fromkeys(str(w).strip() for w in raw if str(w).strip()))
        if not words:
            raise LFConfigError("give at least one keyword")
        if len(words) > MAX_KEYWORDS:
            raise LFConfigError(f"at most {MAX_KEYWORDS} keywords")
        mode = config.get("mode", "any")
        if mode not in ("any", "all"):
            raise LFConfigError("mode must be 'any' or 'all'")
        if mode == "all" and len(words) > 50:
            raise LFConfigError("with mode 'all', at most 50 keywords (each must occur in the sample)")
        return KeywordConfig(
            keywords=words,
            whole_word=bool(config.get("whole_word", True)),
            case_sensitive=bool(config.get("case_sensitive", False)),
            mode=mode,
        )
    if kind == "regex":
        pattern = config.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise LFConfigError("give a pattern")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise LFConfigError(f"a pattern can have at most {MAX_PATTERN_CHARS} characters")
        error = _re2_error(pattern)
        if error:
            raise LFConfigError(f"the pattern cannot be used: {error}")
        return RegexConfig(pattern=pattern)
    raise LFConfigError(f"unknown kind {kind!r}; choose keyword or regex")


# A keyword matches as a whole word when no letter, digit or underscore touches it on either side. RE2's \b
# only knows ASCII word characters ("café" would never end at a boundary), so the boundaries are spelled out
# with Unicode classes; the keyword itself is the group `m`, which is what gets highlighted.
_EDGE_L = r"(?:^|[^\pL\pN_])"
_EDGE_R = r"(?:$|[^\pL\pN_])"
# One RE2 program per this many keywords: an alternation of thousands stays fast, but RE2 refuses one that
# is too large to compile.
ALTERNATION_SIZE = 1_000
# Past this many single-word keywords, splitting the text into words once and looking each word up in a
# hash set beats running the alternations.
TOKEN_LOOKUP_FROM = 5_000
_WORD = re2.compile(r"^[\pL\pN_]+$")


def _keyword_regex(words, cfg: KeywordConfig, capture: bool = False) -> str:
    body = "|".join(re2.escape(w) for w in words)
    core = f"(?P<m>{body})" if capture else f"(?:{body})"
    if cfg.whole_word:
        core = f"{_EDGE_L}{core}{_EDGE_R}"
    return core if cfg.case_sensitive else f"(?i){core}"


def matcher_pattern(cfg: KeywordConfig | RegexConfig) -> str:
    """One RE2 pattern that finds the LF's matches (for highlighting); keywords are in the group `m`."""
    if isinstance(cfg, RegexConfig):
        return cfg.pattern
    return _keyword_regex(cfg.keywords, cfg, capture=True)


def _as_array(texts) -> pa.Array:
    if isinstance(texts, pa.Array | pa.ChunkedArray):
        return texts
    return pa.array(texts, type=pa.large_string())


def _bool(hit) -> np.ndarray:
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


def words_of(texts, case_sensitive: bool) -> tuple[pa.Array, np.ndarray]:
    """Every word of every text (runs of letters, digits and underscores) and the row it comes from."""
    arr = _as_array(texts)
    if not case_sensitive:
        arr = pc.utf8_lower(arr)
    spaced = pc.replace_substring_regex(arr, r"[^\pL\pN_]+", " ")
    lists = pc.utf8_split_whitespace(spaced)
    return pc.list_flatten(lists), pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)


def _any_keyword(cfg: KeywordConfig, arr, words) -> np.ndarray:
    n = len(arr)
    mask = np.zeros(n, dtype=bool)
    keywords = list(cfg.keywords)
    if cfg.whole_word and len(keywords) >= TOKEN_LOOKUP_FROM:
        single = [w for w in keywords if _WORD.match(w)]
        keywords = [w for w in keywords if not _WORD.match(w)]
        tokens, parents = words(cfg.case_sensitive) if words else words_of(arr, cfg.case_sensitive)
        wanted = pa.array(
            single if cfg.case_sensitive else [w.lower() for w in single], type=pa.large_string()
        )
        hit = _bool(pc.is_in(pc.cast(tokens, pa.large_string()), value_set=wanted))
        mask[parents[hit]] = True
    for begin in range(0, len(keywords), ALTERNATION_SIZE):
        group = keywords[begin : begin + ALTERNATION_SIZE]
        if cfg.whole_word:
            mask |= _bool(pc.match_substring_regex(arr, _keyword_regex(group, cfg)))
        else:
            for word in group:
                mask |= _bool(pc.match_substring(arr, word, ignore_case=not cfg.case_sensitive))
    return mask


def matches(cfg: KeywordConfig | RegexConfig, texts, words=None) -> np.ndarray:
    """Boolean mask over the texts: where the LF fires.

    `words(case_sensitive)` may give the texts' words (see words_of), computed once and shared by every
    keyword LF a worker applies to the same rows.
    """
    arr = _as_array(texts)
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if isinstance(cfg, RegexConfig):
        return _bool(pc.match_substring_regex(arr, cfg.pattern))
    if cfg.mode == "any":
        return _any_keyword(cfg, arr, words)
    mask = np.ones(n, dtype=bool)
    for word in cfg.keywords:
        single = KeywordConfig((word,), cfg.whole_word, cfg.case_sensitive, "any")
        mask &= _any_keyword(single, arr, None)
    return mask


def apply(kind: str, config, label: int, texts, words=None) -> np.ndarray:
    """Votes (int16, ABSTAIN where the LF does not fire) of one LF over the texts."""
    cfg = parse_config(kind, config)
    mask = matches(cfg, texts, words)
    votes = np.full(mask.shape[0], ABSTAIN, dtype=np.int16)
    votes[mask] = label
    return votes


def spans(cfg: KeywordConfig | RegexConfig, text: str, limit: int = 50) -> list[tuple[int, int]]:
    """Code-point spans of the LF's matches in one text, for highlighting."""
    regex = re2.compile(matcher_pattern(cfg))
    group = regex.groupindex["m"] if isinstance(cfg, KeywordConfig) else 0
    out = []
    for m in regex.finditer(text):
        span = m.span(group)
        if span[1] > span[0]:
            out.append(span)
        if len(out) >= limit:
            break
    return out
