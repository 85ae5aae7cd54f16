"""A code LF in the sandbox against the same function run in-process, over 100k generated texts.

The bar (issue 4): at most 3x in-process, process start-up and data transfer included. The LF does a regex
search and a word count per sample. Run: .venv/bin/python bench/code_lf.py [n_samples]
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.engine.sandbox import run_code_lf, sandbox_isolation  # noqa: E402

WORDS = (
    "i love this song so much the video is great check out my channel please subscribe and like "
    "lol omg best music ever who is watching in 2015 call now free win prize text reply stop to claim "
    "your mobile cash award ur txt msg me later ok im going home tonight see you soon good morning "
    "thanks for the link visit my website http www com views comments amazing voice beautiful"
).split()

SOURCE = """
import re
from snorkel.labeling import labeling_function

ABSTAIN, HAM, SPAM = -1, 0, 1
PROMO = re.compile(r"check out|subscribe|https?://|\\bfree\\b", re.IGNORECASE)

@labeling_function()
def promo_or_short(x):
    if PROMO.search(x.text):
        return SPAM
    if len(x.text.split()) < 30:
        return HAM
    return ABSTAIN
"""


def corpus(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": f"s{i}", "text": " ".join(rng.choices(WORDS, k=rng.randint(20, 60)))} for i in range(n)]


def in_process_lf():
    """The same source, run here without a sandbox (a minimal stand-in for the snorkel import)."""
    import re

    promo = re.compile(r"check out|subscribe|https?://|\bfree\b", re.IGNORECASE)

    def promo_or_short(x):
        if promo.search(x.text):
            return 1
        if len(x.text.split()) < 30:
            return 0
        return -1

    return promo_or_short


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    records = corpus(n)
    lf = in_process_lf()
    objects = [SimpleNamespace(**r) for r in records]

    bare, _ = best_of(lambda: np.array([lf(x) for x in objects], dtype=np.int16))
    applier, expected = best_of(lambda: np.array([lf(SimpleNamespace(**r)) for r in records], dtype=np.int16))
    sandboxed, votes = best_of(lambda: run_code_lf(SOURCE, records, ["HAM", "SPAM"]))
    assert np.array_equal(votes, expected), "the sandbox's votes differ from the in-process function's"
    single, votes = best_of(lambda: run_code_lf(SOURCE, records, ["HAM", "SPAM"], workers=1))
    assert np.array_equal(votes, expected), "the sandbox's votes differ from the in-process function's"

    print(f"code LF (regex search + word count), {n:,} samples, {os.cpu_count()} CPUs, best of 3")
    print(f"isolation: {sandbox_isolation()}")
    print(f"{'run':52} {'seconds':>8} {'ratio':>6}")
    print(f"{'in-process, function calls on ready-made objects':52} {bare:8.3f} {1:6.2f}")
    print(f"{'in-process, building x from each record':52} {applier:8.3f} {applier / bare:6.2f}")
    print(f"{'sandboxed, one process':52} {single:8.3f} {single / bare:6.2f}")
    print(
        f"{'sandboxed, default pool (start-up, transfer included)':52} {sandboxed:8.3f} {sandboxed / bare:6.2f}"
    )
    print(f"sandbox / in-process: {sandboxed / bare:.2f}x (bar: at most 3x); votes identical: yes")


if __name__ == "__main__":
    main()
