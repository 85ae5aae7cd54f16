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

MAX_KEYWORDS = 10_000
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


def _keyword_regex(word: str, cfg: KeywordConfig) -> str:
    escaped = re2.escape(word)
    core = rf"\b{escaped}\b" if cfg.whole_word else escaped
    return core if cfg.case_sensitive else f"(?i){core}"


def matcher_pattern(cfg: KeywordConfig | RegexConfig) -> str:
    """One RE2 pattern that finds the LF's matches (for highlighting)."""
    if isinstance(cfg, RegexConfig):
        return cfg.pattern
    return "|".join(f"(?:{_keyword_regex(w, cfg)})" for w in cfg.keywords)


def _as_array(texts) -> pa.Array:
    if isinstance(texts, pa.Array | pa.ChunkedArray):
        return texts
    return pa.array(texts, type=pa.large_string())


def matches(cfg: KeywordConfig | RegexConfig, texts) -> np.ndarray:
    """Boolean mask over the texts: where the LF fires."""
    arr = _as_array(texts)
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if isinstance(cfg, RegexConfig):
        hit = pc.match_substring_regex(arr, cfg.pattern)
    else:
        hits = []
        for word in cfg.keywords:
            if cfg.whole_word:
                hits.append(pc.match_substring_regex(arr, _keyword_regex(word, cfg)))
            else:
                hits.append(pc.match_substring(arr, word, ignore_case=not cfg.case_sensitive))
        combine = pc.or_ if cfg.mode == "any" else pc.and_
        hit = hits[0]
        for other in hits[1:]:
            hit = combine(hit, other)
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


def apply(kind: str, config, label: int, texts) -> np.ndarray:
    """Votes (int16, ABSTAIN where the LF does not fire) of one LF over the texts."""
    cfg = parse_config(kind, config)
    mask = matches(cfg, texts)
    votes = np.full(mask.shape[0], ABSTAIN, dtype=np.int16)
    votes[mask] = label
    return votes


def spans(cfg: KeywordConfig | RegexConfig, text: str, limit: int = 50) -> list[tuple[int, int]]:
    """Code-point spans of the LF's matches in one text, for highlighting."""
    regex = re2.compile(matcher_pattern(cfg))
    out = []
    for m in regex.finditer(text):
        if m.end() > m.start():
            out.append(m.span())
        if len(out) >= limit:
            break
    return out
