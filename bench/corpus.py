"""A seeded generator of large corpora with the vocabulary of the real YouTube and SMS spam data.

Each generated sample draws 20–60 words from the words of real spam or real ham messages (by their
frequencies there), so keyword and regex LFs written for the real data fire at realistic rates. The class it
was drawn from is the sample's true label; `likes` and `replies` are numeric fields for field rules.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import numpy as np

WORD = re.compile(r"[A-Za-z0-9']+|[^\sA-Za-z0-9']")


def shared_datasets() -> Path:
    here = Path(__file__).resolve().parents[1]
    for base in (here, *here.parents):
        for candidate in (base / "shared" / "datasets", base.parent / "shared" / "datasets"):
            if candidate.is_dir():
                return candidate
    raise SystemExit("the shared datasets folder (../shared/datasets) was not found")


def real_messages(datasets: Path) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for path in sorted((datasets / "youtube_spam_collection").glob("*.csv")):
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                texts.append(row["CONTENT"])
                labels.append(int(row["CLASS"]))
    with open(
        datasets / "sms_spam_collection" / "SMSSpamCollection", encoding="utf-8", errors="replace"
    ) as fh:
        for line in fh:
            label, _, text = line.rstrip("\n").partition("\t")
            texts.append(text)
            labels.append(1 if label == "spam" else 0)
    return texts, labels


def vocabulary(texts, labels) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per class: the words and their sampling probabilities."""
    out = {}
    for cls in (0, 1):
        counts = Counter(w for t, y in zip(texts, labels, strict=True) if y == cls for w in WORD.findall(t))
        words = np.array(list(counts), dtype=object)
        freq = np.array([counts[w] for w in words], dtype=float)
        out[cls] = (words, freq / freq.sum())
    return out


def generate(n: int, seed: int = 0, spam_share: float = 0.4, datasets: Path | None = None):
    """n texts, their true labels (0 ham, 1 spam), and numeric fields likes and replies."""
    datasets = datasets or shared_datasets()
    vocab = vocabulary(*real_messages(datasets))
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < spam_share).astype(np.int64)
    lengths = rng.integers(20, 61, size=n)
    texts = np.empty(n, dtype=object)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        words, p = vocab[cls]
        draws = rng.choice(len(words), size=int(lengths[idx].sum()), p=p)
        ends = np.cumsum(lengths[idx])
        starts = ends - lengths[idx]
        picked = words[draws]
        for i, a, b in zip(idx, starts, ends, strict=True):
            texts[i] = " ".join(picked[a:b])
    likes = np.where(labels == 1, rng.poisson(2, n), rng.poisson(15, n))
    replies = rng.poisson(1.5, n)
    return list(texts), labels, {"likes": likes, "replies": replies}
