"""What the learned label models share: the kind of each source, one-hot votes, and the posterior.

A source's abstain means different things for the two kinds of source Chorus has. A labeling function is
usually one-sided (it votes one class or abstains), so its abstain says "probably not that class" and must
be modelled as an outcome of the source. A crowd annotator labels whatever items reach them: who labels an
item is chance, so the abstain carries no information and must be ignored.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .majority import predict_from_scores
from .matrix import ABSTAIN, check_label_matrix

ABSTAIN_MODES = ("auto", "outcome", "ignore")
SOURCE_ABSTAIN_MODES = ("outcome", "ignore")

# A source casting at least this share of its votes for one class is one-sided.
ONE_SIDED_SHARE = 0.99

# Rows handled at once by the chunked passes: large enough for numpy, small enough for the cache.
CHUNK_ROWS = 1 << 16


def class_vote_counts(L: np.ndarray, cardinality: int, weights=None) -> np.ndarray:
    """m x k: how many times each source voted each class (one chunked pass, one bincount per chunk).

    With `weights` (distinct rows and how many samples each stands for) the counts are weighted.
    """
    m = L.shape[1]
    if weights is not None:
        w = np.asarray(weights, dtype=np.int64)
        return (
            np.stack([np.bincount(L[:, j] + 1, weights=w, minlength=cardinality + 1)[1:] for j in range(m)])
            .astype(np.int64)
            .reshape(m, cardinality)
        )
    width = cardinality + 1
    counts = np.zeros(m * width, dtype=np.int64)
    offsets = (np.arange(m, dtype=np.int32) * width + 1)[None, :]
    buffer = np.empty((min(L.shape[0], CHUNK_ROWS), m), dtype=np.int32)
    for start in range(0, L.shape[0], CHUNK_ROWS):
        chunk = L[start : start + CHUNK_ROWS]
        codes = buffer[: chunk.shape[0]]
        np.add(chunk, offsets, out=codes, casting="unsafe")
        counts += np.bincount(codes.ravel(), minlength=m * width)
    return counts.reshape(m, width)[:, 1:]


def row_has_vote(L: np.ndarray) -> np.ndarray:
    """Per row: does any source vote (votes are >= 0, abstain is -1, so the row maximum says it)."""
    if L.shape[1] == 0:
        return np.zeros(L.shape[0], dtype=bool)
    return L.max(axis=1) != ABSTAIN


def one_sided(counts: np.ndarray) -> np.ndarray:
    """Per source (m,): does it cast (nearly) all its votes for one class? Silent sources are not."""
    votes = counts.sum(axis=1)
    return (votes > 0) & (counts.max(axis=1) >= ONE_SIDED_SHARE * np.maximum(votes, 1))


def ignore_two_sided(counts: np.ndarray):
    """Abstain ignored where that leaves the source something to say: a one-sided source always gives the
    same class when it votes, so with its abstain ignored it is exactly uninformative (theta[j, y, c] = 1
    for every y) and a model of such sources has flat probabilities. Its abstain stays an outcome."""
    sided = one_sided(counts)
    if not sided.any():
        return "ignore"
    return ["outcome" if s else "ignore" for s in sided]


def abstain_is_informative(counts: np.ndarray) -> bool:
    """The automatic rule: abstain is an outcome when most votes come from one-sided sources.

    `counts` is m x k (class_vote_counts). Votes weigh, not sources, so an annotator who happened to label
    three items alike does not turn a crowd into labeling functions.
    """
    votes = counts.sum(axis=1)
    total = votes.sum()
    if total == 0:
        return True
    return bool(votes[one_sided(counts)].sum() > 0.5 * total)


def resolve_abstain(mode, counts: np.ndarray) -> np.ndarray:
    """Per source (m,): True where its abstain is modelled as an outcome.

    `mode` is "auto" (the rule above, for every source), "outcome" or "ignore" (every source), or one of
    "outcome"/"ignore" per source: a project that mixes labeling functions with annotators knows which
    column is which, and no rule from the votes alone can tell a one-sided LF from a tidy annotator.
    """
    m = counts.shape[0]
    if isinstance(mode, str):
        if mode not in ABSTAIN_MODES:
            raise ValueError(f"unknown abstain mode {mode!r}; choose one of {', '.join(ABSTAIN_MODES)}")
        outcome = abstain_is_informative(counts) if mode == "auto" else mode == "outcome"
        return np.full(m, outcome, dtype=bool)
    modes = check_abstain_modes(mode)
    if len(modes) != m:
        raise ValueError(f"abstain_modes has {len(modes)} entries but the label matrix has {m} sources")
    return np.array([x == "outcome" for x in modes], dtype=bool)


def check_abstain_modes(modes) -> tuple[str, ...]:
    """A sequence with "outcome" or "ignore" for each source, or ValueError naming the bad entry."""
    if isinstance(modes, str):
        raise ValueError(f"abstain_modes must be a sequence with one entry per source, got {modes!r}")
    out = tuple(modes)
    for i, x in enumerate(out):
        if x not in SOURCE_ABSTAIN_MODES:
            raise ValueError(
                f"abstain_modes[{i}] is {x!r}; each source's mode is one of {', '.join(SOURCE_ABSTAIN_MODES)}"
            )
    return out


def describe_abstain(outcome: np.ndarray) -> str:
    """One word for the run's settings: "outcome", "ignore" or "mixed"."""
    if outcome.all():
        return "outcome"
    if not outcome.any():
        return "ignore"
    return "mixed"


def onehot_votes(L: np.ndarray, cardinality: int) -> sp.csr_matrix:
    """n x (m*k) sparse one-hot of the votes: column j*k + l is "source j voted l"."""
    n, m = L.shape
    voted = L != ABSTAIN
    rows, cols = np.nonzero(voted)
    indices = cols.astype(np.int64) * cardinality + L[rows, cols]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(voted.sum(axis=1), out=indptr[1:])
    data = np.ones(len(rows), dtype=np.float64)
    return sp.csr_matrix((data, indices, indptr), shape=(n, m * cardinality))


def unique_rows(L: np.ndarray, cardinality: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of L, how often each occurs, and for each row of L the index of its distinct row.

    Label matrices of sparse LFs repeat a few vote patterns many times: a model fitted on the distinct rows
    with their counts as weights is the same fit, and predicting once per distinct row and scattering back
    is the same prediction. When a probe shows mostly distinct rows (many sources with wide coverage),
    sorting would not pay and L comes back as it is, each row its own.
    """
    n = L.shape[0]
    if n == 0:
        return L, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    k = int(L.max()) + 1 if cardinality is None else cardinality
    if n > 4 * PROBE_ROWS and len(np.unique(_row_keys(L[:PROBE_ROWS], k))) > PROBE_ROWS // 2:
        return L, np.ones(n, dtype=np.int64), np.arange(n)
    keys = _row_keys(L, k)
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return L[first], counts.astype(np.int64), inverse.ravel()


PROBE_ROWS = 1 << 13


def _row_keys(L: np.ndarray, cardinality: int) -> np.ndarray:
    """One sortable key per row. A row is a number in base k+1 (abstain = digit 0): one int64 when
    (k+1)^m fits, which numpy sorts far faster than the bytes of the row; else the row's bytes."""
    n, m = L.shape
    base = cardinality + 1
    if m * np.log2(base) < 62:
        keys = np.zeros(n, dtype=np.int64)
        for j in range(m):
            keys *= base
            keys += L[:, j]
            keys += 1
        return keys
    small = np.ascontiguousarray(L.astype(np.int8 if cardinality < 127 else np.int16))
    return small.view(np.dtype((np.void, small.dtype.itemsize * small.shape[1]))).ravel()


def log_scores(L: np.ndarray, table: np.ndarray, base: np.ndarray) -> np.ndarray:
    """n x k unnormalised log posterior: base + sum_j table[j, L[i, j] + 1].

    `table` is m x (k+1) x k: row 0 is what an abstain adds, row l+1 what a vote for l adds.
    Each chunk of rows becomes a sparse one-hot with exactly one entry per source (its outcome), so the
    sum is one sparse product: no Python per sample, and memory bounded by the chunk.
    """
    n, m = L.shape
    outcomes, k = table.shape[1], table.shape[2]
    out = np.empty((n, k))
    W = table.reshape(m * outcomes, k)
    offsets = (np.arange(m, dtype=np.int32) * outcomes + 1)[None, :]
    rows = min(n, CHUNK_ROWS)
    ones = np.ones(rows * m)
    indptr = np.arange(0, rows * m + 1, m, dtype=np.int32)
    buffer = np.empty((rows, m), dtype=np.int32)
    for start in range(0, n, CHUNK_ROWS):
        chunk = L[start : start + CHUNK_ROWS]
        r = chunk.shape[0]
        np.add(chunk, offsets, out=buffer[:r], casting="unsafe")
        indices = buffer[:r].ravel()
        onehot = sp.csr_matrix((ones[: r * m], indices, indptr[: r + 1]), shape=(r, m * outcomes))
        out[start : start + r] = onehot @ W
    out += base[None, :]
    return out


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """In place: each row of log scores becomes probabilities."""
    return softmax_rows_lse(scores)[0]


def softmax_rows_lse(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """In place, and each row's log-sum-exp (the log likelihood of the row, for EM).

    Column by column: k is small and n large, where a reduction along rows is slow in numpy.
    """
    n, k = scores.shape
    if k == 0 or n == 0:
        return scores, np.zeros(n)
    top = scores[:, 0].copy()
    for c in range(1, k):
        np.maximum(top, scores[:, c], out=top)
    scores -= top[:, None]
    np.exp(scores, out=scores)
    total = scores[:, 0].copy()
    for c in range(1, k):
        total += scores[:, c]
    scores /= total[:, None]
    return scores, top + np.log(total)


def posterior(L: np.ndarray, table: np.ndarray, base: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Rows summing to 1; a row where every source abstains gets the class prior (it is uninformative).

    The softmax only needs each class's score against class 0's, so the sparse product makes k - 1
    columns, not k (half the work for a binary task, the most common)."""
    n, k = L.shape[0], table.shape[2]
    scores = np.zeros((n, k))
    scores[:, 1:] = log_scores(L, table[:, :, 1:] - table[:, :, :1], base[1:] - base[0])
    proba = softmax_rows(scores)
    empty = ~row_has_vote(L)
    if empty.any():
        proba[empty] = prior[None, :]
    return proba


class ConfusionModel:
    """Shared by the learned models: theta[j, y, o] = P(source j gives outcome o | class y) and a prior.

    theta is m x k x (k+1). For a source whose abstain is an outcome, o = k is the abstain; for a source
    whose abstain is ignored, theta[j, y, k] = 0 and theta[j, y, :k] is conditional on the source voting.
    `abstain` is "auto", "outcome", "ignore", or one of "outcome"/"ignore" per source.
    """

    name = "confusion"

    def __init__(self, cardinality: int, abstain="auto", seed: int = 0):
        if cardinality < 2:
            raise ValueError(f"cardinality must be at least 2, got {cardinality}")
        if isinstance(abstain, str):
            if abstain not in ABSTAIN_MODES:
                raise ValueError(
                    f"unknown abstain mode {abstain!r}; choose one of {', '.join(ABSTAIN_MODES)}"
                )
        else:
            abstain = check_abstain_modes(abstain)
        self.cardinality = cardinality
        self.abstain = abstain
        self.seed = seed
        self.prior = np.full(cardinality, 1.0 / cardinality)
        self.theta: np.ndarray | None = None
        # Per source after fit: is its abstain an outcome?
        self.abstain_outcome: np.ndarray | None = None
        self.learned_accuracies: np.ndarray | None = None

    @property
    def abstain_is_outcome(self) -> bool | None:
        """True / False when every source is treated alike, None when the modes are mixed (or before fit)."""
        if self.abstain_outcome is None:
            return None
        if self.abstain_outcome.all():
            return True
        if not self.abstain_outcome.any():
            return False
        return None

    @property
    def abstain_modes(self) -> list[str] | None:
        if self.abstain_outcome is None:
            return None
        return ["outcome" if o else "ignore" for o in self.abstain_outcome]

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(m x (k+1) x k table for log_scores, base): what each outcome of each source adds to log P(y)."""
        if self.theta is None or self.abstain_outcome is None:
            raise RuntimeError("call fit() before predicting")
        k = self.cardinality
        log_theta = np.log(np.clip(self.theta, 1e-300, None))  # m x k(y) x outcomes
        m = log_theta.shape[0]
        table = np.zeros((m, k + 1, k))
        votes = log_theta[:, :, :k].transpose(0, 2, 1)
        out = self.abstain_outcome
        # An outcome source's abstain is folded into the base, so an abstain adds nothing per row.
        table[:, 1:, :] = np.where(out[:, None, None], votes - log_theta[:, None, :, k], votes)
        base = np.log(self.prior) + log_theta[out, :, k].sum(axis=0)
        return table, base

    def accuracies_from_theta(self) -> np.ndarray:
        """P(source j is right | it votes) implied by theta and the prior."""
        assert self.theta is not None
        k = self.cardinality
        right = np.einsum("y,jyy->j", self.prior, self.theta[:, :, :k])
        # For an ignoring source theta[j, y, k] = 0, so this is 1 and `right` is already conditional.
        votes = np.einsum("y,jy->j", self.prior, 1.0 - self.theta[:, :, k])
        return right / np.maximum(votes, 1e-12)

    def predict_proba(self, L) -> np.ndarray:
        table, base = self.tables()
        L = check_label_matrix(L, self.cardinality)
        if L.shape[1] != table.shape[0]:
            raise ValueError(
                f"the model was fitted on {table.shape[0]} sources, this label matrix has {L.shape[1]}"
            )
        return posterior(L, table, base, self.prior)

    def predict(self, L, tie_policy: str = "abstain") -> np.ndarray:
        L = check_label_matrix(L, self.cardinality)
        proba = self.predict_proba(L)
        scores = np.where(row_has_vote(L)[:, None], proba, 0.0)
        return predict_from_scores(scores, tie_policy, self.prior, self.seed)


def check_prior(prior, cardinality: int) -> np.ndarray:
    p = np.asarray(prior, dtype=float)
    if p.shape != (cardinality,) or not np.all(p > 0):
        raise ValueError(f"a class prior needs {cardinality} positive entries, got {prior!r}")
    return p / p.sum()
