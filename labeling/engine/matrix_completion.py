"""A label model in the style of Snorkel's: conditional accuracies from the agreement statistics of L.

One pass over L gives the sufficient statistics: per source and class the vote counts, and per pair of
sources the joint counts of their votes (the Gram matrix of the one-hot votes). The fit then matches the
first and second moments implied by theta[j, y, o] = P(source j gives o | y) and the class prior to them,
so its cost does not depend on n.

With abstain as an outcome the moments are over all rows (Snorkel's choice); with abstain ignored they
are over the rows where both sources vote, which is what a crowd needs: two annotators who never label
the same item say nothing about each other, rather than "they always disagree about voting". The mode is
per source, so labeling functions and annotators can share one matrix.

Gold labels, where a project has them on dev, can join the fit (`labeled=`, `label_weight=`): the mean log
likelihood of the labeled rows' outcomes under theta is added to the moment loss, so a source the moments
misjudge (correlated LFs agreeing on the same mistakes) is corrected by what it did on gold rows. On TubeSpam
the moments alone learn a ham LF that is right 72 % of the time at 90 % and a spam LF right 95 % of the time
at 34 %; 157 dev labels set both near their truth.

Where the fit starts, and what its l2 term pulls towards, matters: the loss is not convex, and labeling functions
that depend on each other given the class (two spam LFs keyed on the same words) bend its minimum. For a
binary task the start is a robust closed-form estimate (`triplet_start`): under conditional independence the
covariance of two sources' votes is a product of what each says about the class, so any three sources give
each one's discrimination from three covariances, and the median over all the triplets a source is in leaves
out the few pairs that depend on each other. On TubeSpam, whose spam LFs co-fire far more than independence
allows, starting there takes the default from 85.2 % to 86.5 % (the median alone labels 91.3 %); for k > 2
the covariances have rank k - 1, no triplet identifies a source, and the fit starts from init_accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .matrix import check_label_matrix
from .sources import CHUNK_ROWS, ConfusionModel, check_prior, class_vote_counts, resolve_abstain

INITS = ("triplets", "accuracy")
# Pairs of indicators a source's triplet median is taken over at most (a seeded sample past it), so the
# start costs well under a second with hundreds of sources.
TRIPLET_PAIRS = 20_000
# A triplet estimate of a vote rate is kept inside [TRIPLET_FLOOR, 1 - TRIPLET_FLOOR]: a rate of 0 would
# make one vote decide the sample whatever the others say. (0.001 or 0.003 fit synthetic LFs that fire on
# under 1 % of the other class better, and cost wrench_sms up to 4.8 points of F1 with dev labels.)
TRIPLET_FLOOR = 0.01
# A pair of sources that shares DEPENDENT_SHARE of the smaller one's votes, on at least DEPENDENT_MIN_VOTES
# rows, and whose votes covary more than DEPENDENT_RATIO times what their triplet starts imply, depends on
# each other (see dependent_pairs). On the bench's four LF sets the largest ratio of a clean pair is 3.8
# (sharing 65 %); an LF keeping 95 % of another's votes reached 12 to 15 there, one adding a rare word to a
# keyword LF 7.1.
DEPENDENT_SHARE = 0.8
DEPENDENT_RATIO = 5.0
DEPENDENT_MIN_VOTES = 10
DEPENDENT_Z = 5.0


@dataclass(frozen=True)
class VoteMoments:
    n: int
    # m x k: votes per source and class
    counts: np.ndarray
    # (m*k) x (m*k): rows where source i voted l and source j voted l' (column j*k + l')
    gram: np.ndarray


def vote_moments(
    L: np.ndarray, cardinality: int, counts: np.ndarray | None = None, weights=None
) -> VoteMoments:
    """One chunked pass over L. Columns that never occur are left out of the products (one-sided LFs).

    `counts` (class_vote_counts of L) saves a pass when the caller has it already. `weights`: how many
    samples each row stands for (distinct rows, see unique_rows).
    """
    n, m = L.shape
    k = cardinality
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    if counts is None:
        counts = class_vote_counts(L, k, weights=weights)
    present = np.flatnonzero(counts.ravel() > 0)
    src, cls = present // k, present % k
    gram_p = np.zeros((len(present), len(present)))
    for start in range(0, n, CHUNK_ROWS):
        chunk = L[start : start + CHUNK_ROWS]
        X = (chunk[:, src] == cls[None, :]).astype(np.float32)
        if w is None:
            gram_p += X.T @ X
        else:
            gram_p += X.T @ (X * w[start : start + CHUNK_ROWS, None])
    gram = np.zeros((m * k, m * k))
    gram[np.ix_(present, present)] = gram_p
    total = n if weights is None else int(np.asarray(weights).sum())
    return VoteMoments(n=total, counts=counts, gram=gram)


def labeled_counts(L: np.ndarray, Y: np.ndarray, cardinality: int) -> np.ndarray:
    """m x k x (k+1): over the rows with gold (Y >= 0), how often source j gave outcome o (abstain = k)
    when the truth was y: the sufficient statistics of the gold rows' likelihood under theta."""
    k = cardinality
    L = np.asarray(L)
    Y = np.asarray(Y, dtype=np.int64).ravel()
    has = Y >= 0
    L, Y = L[has], Y[has]
    m = L.shape[1]
    outcome = np.where(L < 0, k, L).astype(np.int64)
    # One bincount over (source, truth, outcome) codes.
    codes = (np.arange(m, dtype=np.int64)[None, :] * k + Y[:, None]) * (k + 1) + outcome
    return np.bincount(codes.ravel(), minlength=m * k * (k + 1)).reshape(m, k, k + 1).astype(float)


class MatrixCompletion(ConfusionModel):
    """class_balance: None (uniform, Snorkel's default), "estimate", or the k class shares.

    init: "triplets" (a binary task starts from triplet_start, see the module's docstring) or "accuracy"
    (every source right with init_accuracy, the start for k > 2 either way).
    """

    name = "matrix_completion"

    def __init__(
        self,
        cardinality: int,
        abstain="auto",
        class_balance=None,
        l2: float = 1e-2,
        init_accuracy: float = 0.7,
        max_iter: int = 100,
        seed: int = 0,
        init: str = "triplets",
    ):
        super().__init__(cardinality, abstain=abstain, seed=seed)
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.init = init
        if not (class_balance is None or (isinstance(class_balance, str) and class_balance == "estimate")):
            class_balance = check_prior(class_balance, cardinality)
        self.class_balance = class_balance
        self.l2 = float(l2)
        self.init_accuracy = float(init_accuracy)
        self.max_iter = max_iter
        self.converged = False
        # Pairs of sources (i < j) whose second moments the last fit left out (see dependent_pairs).
        self.dependent_pairs: list[tuple[int, int]] = []

    def fit(self, L, counts: np.ndarray | None = None, weights=None, labeled=None, label_weight=1.0):
        L = check_label_matrix(L, self.cardinality)
        return self.fit_moments(
            vote_moments(L, self.cardinality, counts=counts, weights=weights),
            labeled=labeled,
            label_weight=label_weight,
        )

    def fit_moments(self, mo: VoteMoments, labeled=None, label_weight: float = 1.0) -> MatrixCompletion:
        """labeled: labeled_counts of rows with gold (or None); label_weight: how much their mean log
        likelihood weighs against the moment loss (which starts near 1)."""
        k = self.cardinality
        m = mo.counts.shape[0]
        outcome = resolve_abstain(self.abstain, mo.counts)
        self.abstain_outcome = outcome
        G = mo.gram.reshape(m, k, m, k)
        votes = mo.counts.sum(axis=1).astype(float)
        n = float(max(mo.n, 1))
        # Each moment is over the rows where every ignoring source in it votes: all rows for outcome
        # sources (abstain is one of their outcomes), the rows where it voted for an ignoring one (its
        # theta is conditional on voting), and for two ignoring sources the rows where both voted.
        N = G.sum(axis=(1, 3))
        base_i = np.where(outcome, n, votes)
        both = np.where(outcome[:, None], base_i[None, :], np.where(outcome[None, :], base_i[:, None], N))
        moments2 = G / np.maximum(both, 1.0)[:, None, :, None]
        # A moment weighs by how many rows it is measured on.
        W = both / n
        F = mo.counts / np.maximum(base_i, 1.0)[:, None]
        wF = base_i / n
        estimate = isinstance(self.class_balance, str)
        fixed_p = np.full(k, 1.0 / k) if self.class_balance is None or estimate else self.class_balance
        start = self._initial_theta(F, outcome)
        self.dependent_pairs = []
        if self.init == "triplets" and k == 2:
            start = triplet_start(mo, outcome, fixed_p, start, seed=self.seed)
            # A pair that votes together far beyond what each one's start explains says more about itself
            # than about the class: its moment is left out, as a copy's is (LabelModel counts copies once).
            self.dependent_pairs = dependent_pairs(mo, outcome, fixed_p, start)
            for i, j in self.dependent_pairs:
                W[i, j] = W[j, i] = 0.0
        np.fill_diagonal(W, 0.0)
        Wfull = np.repeat(np.repeat(W, k, axis=0), k, axis=1)
        Ofull = moments2.reshape(m * k, m * k)
        Fflat = F.ravel()
        wFflat = np.repeat(wF, k)
        z2 = max(float((Wfull * Ofull**2).sum()), 1e-12)
        z1 = max(float((wFflat * Fflat**2).sum()), 1e-12)
        # eta: m x k x (k+1) logits; an ignoring source's abstain logit is masked out (theta = 0 there).
        free = np.ones((m, k, k + 1), dtype=bool)
        free[~outcome, :, k] = False
        eta0 = np.where(free, np.log(np.clip(start, 1e-300, None)), 0.0)
        n_eta = eta0.size
        n_free = max(int(free.sum()), 1)
        l2 = self.l2
        C = None
        if labeled is not None and label_weight > 0:
            C = np.asarray(labeled, dtype=float)
            if C.shape != free.shape:
                raise ValueError(f"labeled counts have shape {C.shape}, expected {free.shape}")
            C = np.where(free, C, 0.0)
            if C.sum() > 0:
                # Per labeled outcome, so the weight does not depend on how many gold rows there are.
                C = C * (float(label_weight) / C.sum())
            else:
                C = None

        def unpack(x):
            eta = x[:n_eta].reshape(m, k, k + 1)
            masked = np.where(free, eta, -np.inf)
            theta = np.exp(masked - masked.max(axis=2, keepdims=True))
            theta /= theta.sum(axis=2, keepdims=True)
            if estimate:
                rho = x[n_eta:]
                p = np.exp(rho - rho.max())
                p /= p.sum()
            else:
                p = fixed_p
            return eta, theta, p

        def loss(x):
            eta, theta, p = unpack(x)
            Tv = theta[:, :, :k].transpose(0, 2, 1).reshape(m * k, k)  # [(j,l), y]
            s = np.sqrt(p)
            A = Tv * s[None, :]
            D = A @ A.T - Ofull
            R = Wfull * D
            Fm = Tv @ p
            e = Fm - Fflat
            d_eta = eta - eta0
            value = (R * D).sum() / z2 + (wFflat * e**2).sum() / z1 + l2 * (d_eta**2).sum() / n_free
            if C is not None:
                value -= float((C * np.log(np.where(free, np.maximum(theta, 1e-300), 1.0))).sum())
            gA = (4.0 / z2) * (R @ A)
            gTv = gA * s[None, :] + (2.0 / z1) * (wFflat * e)[:, None] * p[None, :]
            gp = (gA * Tv).sum(axis=0) / (2.0 * s) + (2.0 / z1) * ((wFflat * e) @ Tv)
            g_theta = np.zeros_like(theta)
            g_theta[:, :, :k] = gTv.reshape(m, k, k).transpose(0, 2, 1)
            g_eta = theta * (g_theta - (g_theta * theta).sum(axis=2, keepdims=True))
            g_eta += 2.0 * l2 * d_eta / n_free
            if C is not None:
                # d/d eta of -sum C log softmax(eta): each row's total times theta, less the counts.
                g_eta -= C - C.sum(axis=2, keepdims=True) * theta
            grad = g_eta.ravel()
            if estimate:
                grad = np.concatenate([grad, p * (gp - (gp * p).sum())])
            return value, grad

        x0 = eta0.ravel()
        if estimate:
            x0 = np.concatenate([x0, np.zeros(k)])
        result = minimize(loss, x0, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter})
        self.converged = bool(result.success)
        _, theta, p = unpack(result.x)
        self.theta = theta
        self.prior = np.asarray(p, dtype=float)
        self.learned_accuracies = np.where(votes > 0, self.accuracies_from_theta(), np.nan)
        return self

    def _initial_theta(self, F: np.ndarray, outcome: np.ndarray) -> np.ndarray:
        """Every source right with init_accuracy, errors spread evenly, coverage as observed."""
        k = self.cardinality
        a = self.init_accuracy
        conf = np.full((k, k), (1.0 - a) / (k - 1))
        np.fill_diagonal(conf, a)
        m = F.shape[0]
        theta = np.zeros((m, k, k + 1))
        # Outcome sources: P(vote l | y) = share of rows voting l, tilted towards y, with an equal prior.
        votes = np.clip(F[:, None, :] * k * conf[None, :, :], 1e-6, None)
        total = votes.sum(axis=2, keepdims=True)
        votes = np.where(total > 0.98, votes * 0.98 / total, votes)
        theta[outcome, :, :k] = votes[outcome]
        theta[outcome, :, k] = 1.0 - votes[outcome].sum(axis=2)
        theta[~outcome, :, :k] = conf[None, :, :]
        return theta


def vote_covariance(mo: VoteMoments) -> np.ndarray:
    """(m*k) x (m*k): the covariance of the vote indicators (column j*k + l: source j voted l)."""
    n = float(max(mo.n, 1))
    mu = mo.counts.ravel() / n
    return mo.gram / n - np.outer(mu, mu)


def triplet_start(
    mo: VoteMoments, outcome: np.ndarray, prior: np.ndarray, fallback: np.ndarray, seed: int = 0
) -> np.ndarray:
    """theta for a binary task from the median over triplets of sources (`fallback`'s rows where none apply).

    Each vote indicator a (source j voted class l) has, given the class, rates P0 = P(a | y = 0) and
    P1 = P(a | y = 1); with d = P1 - P0 and conditional independence the covariance of two indicators of
    different sources is p0 p1 d_a d_b. So p0 p1 d_a^2 = C_ab C_ac / C_bc for any b, c of two other sources,
    and |d_a| is the median of that over the pairs, signed so a vote for class 1 says class 1 (a source is
    taken to beat chance: reading the sign off the covariances instead fitted synthetic inverted LFs and cost
    TubeSpam 4 points with dev labels, its dependent LFs misleading the reading). The vote rate
    mu_a = p0 P0 + p1 P1 gives P0 = mu_a - p1 d_a and P1 = mu_a + p0 d_a. Only for sources whose abstain
    is an outcome; the moments come from VoteMoments, no pass over L.
    """
    k = 2
    n = float(max(mo.n, 1))
    theta = fallback.copy()
    flat = np.flatnonzero((mo.counts.ravel() > 0) & (mo.counts.ravel() < n) & np.repeat(outcome, k))
    if len(flat) < 3:
        return theta
    owner, cls = flat // k, flat % k
    mu = mo.counts.ravel()[flat] / n
    C = vote_covariance(mo)[np.ix_(flat, flat)]
    b, c = np.triu_indices(len(flat), 1)
    keep = (owner[b] != owner[c]) & (np.abs(C[b, c]) > 1e-12)
    b, c = b[keep], c[keep]
    if len(b) > TRIPLET_PAIRS:
        pick = np.sort(np.random.default_rng(seed).choice(len(b), TRIPLET_PAIRS, replace=False))
        b, c = b[pick], c[pick]
    p0, p1 = float(prior[0]), float(prior[1])
    for a in range(len(flat)):
        use = (owner[b] != owner[a]) & (owner[c] != owner[a])
        r = C[a, b[use]] * C[a, c[use]] / C[b[use], c[use]]
        r = r[r > 0]
        if len(r) == 0:
            continue
        d = float(np.sqrt(np.median(r) / (p0 * p1))) * (1.0 if cls[a] == 1 else -1.0)
        j, vote = owner[a], cls[a]
        theta[j, 0, vote] = np.clip(mu[a] - p1 * d, TRIPLET_FLOOR, 1.0 - TRIPLET_FLOOR)
        theta[j, 1, vote] = np.clip(mu[a] + p0 * d, TRIPLET_FLOOR, 1.0 - TRIPLET_FLOOR)
    # Each class row of an outcome source sums to one: its votes at most 1 - TRIPLET_FLOOR, the rest abstain.
    votes = theta[:, :, :k].sum(axis=2, keepdims=True)
    scale = np.where(votes > 1.0 - TRIPLET_FLOOR, (1.0 - TRIPLET_FLOOR) / np.maximum(votes, 1e-12), 1.0)
    rows = outcome[:, None, None]
    theta[:, :, :k] = np.where(rows, theta[:, :, :k] * scale, theta[:, :, :k])
    theta[outcome, :, k] = 1.0 - theta[outcome, :, :k].sum(axis=2)
    return theta


def dependent_pairs(
    mo: VoteMoments, outcome: np.ndarray, prior: np.ndarray, theta: np.ndarray
) -> list[tuple[int, int]]:
    """Pairs of outcome sources (i < j) with vote indicators that share most of the smaller one's votes
    (DEPENDENT_SHARE, at least DEPENDENT_MIN_VOTES) and covary more than DEPENDENT_RATIO times what theta
    (a binary triplet start) implies, p0 p1 d_a d_b, by DEPENDENT_Z standard errors.

    A code LF that keeps most of a regex LF's votes, or two keyword LFs on the same few words: the moment fit
    would read their agreement as accuracy (one such near-copy took wrench_youtube's default from 84.0 % to
    51.2 %). The triplet start is robust to the pair (a median over the many triplets without it), so the
    covariance it implies is what the class explains; the excess is the pair's own."""
    k = 2
    m = mo.counts.shape[0]
    n = float(max(mo.n, 1))
    mu = mo.counts / n
    co = mo.gram.reshape(m, k, m, k)
    C = vote_covariance(mo).reshape(m, k, m, k)
    d = theta[:, 1, :k] - theta[:, 0, :k]
    implied = float(prior[0] * prior[1]) * d[:, :, None, None] * d[None, None, :, :]
    present = (mo.counts > 0) & outcome[:, None]
    usable = (
        present[:, :, None, None] & present[None, None, :, :] & (implied > 0) & (co >= DEPENDENT_MIN_VOTES)
    )
    # Significant too: a near-random LF implies almost no covariance, and sampling noise alone can be many
    # times that (a covariance of two indicators is measured to about sqrt(var_a var_b / n)).
    var = mu * (1.0 - mu)
    noise = np.sqrt(var[:, :, None, None] * var[None, None, :, :] / n)
    # And most of one's votes are the other's (a near-copy, what the fit cannot tell from accuracy); pairs
    # that merely lean on each other, as TubeSpam's spam LFs do, are left to the median (masking those cost
    # points on the bench's sets).
    smaller = np.minimum(mo.counts[:, :, None, None], mo.counts[None, None, :, :])
    shared = co >= DEPENDENT_SHARE * np.maximum(smaller, 1)
    excess = (
        usable
        & shared
        & (C > DEPENDENT_RATIO * np.where(implied > 0, implied, np.inf))
        & (C - implied > DEPENDENT_Z * noise)
    )
    flagged = excess.any(axis=(1, 3))
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(flagged, 1)), strict=True)]
