"""Matrix completion's start for a binary task: the median over triplets of sources (triplet_start)."""

import numpy as np
import pytest

from labeling.engine import LabelModel, MatrixCompletion
from labeling.engine.matrix_completion import TRIPLET_FLOOR, triplet_start, vote_moments
from tests.engine.test_label_model_dev_fit import one_sided


def vote_rates(L, y):
    """theta as counted with the truth: m x 2 x 3, P(outcome | class), abstain last."""
    m = L.shape[1]
    theta = np.zeros((m, 2, 3))
    for c in (0, 1):
        rows = L[y == c]
        for o in (0, 1):
            theta[:, c, o] = (rows == o).mean(axis=0)
        theta[:, c, 2] = (rows == -1).mean(axis=0)
    return theta


SIDES = [1, 1, 1, 0, 0, 0, 1, 0]
HIT = [0.3, 0.2, 0.4, 0.25, 0.35, 0.15, 0.3, 0.2]
FALSE_ALARM = [0.02, 0.05, 0.1, 0.03, 0.08, 0.02, 0.06, 0.04]


def start_of(L, outcome=None, prior=(0.5, 0.5)):
    m = L.shape[1]
    outcome = np.ones(m, dtype=bool) if outcome is None else outcome
    fallback = np.zeros((m, 2, 3))  # rows and rates the start leaves alone stay 0
    return triplet_start(vote_moments(L, 2), outcome, np.asarray(prior), fallback)


def test_the_start_recovers_the_vote_rates_of_independent_lfs():
    L, y = one_sided(80_000, SIDES, HIT, FALSE_ALARM)
    truth = vote_rates(L, y)
    start = start_of(L)
    for j, c in enumerate(SIDES):
        assert start[j, :, c] == pytest.approx(truth[j, :, c], abs=0.01)
        assert start[j, :, 2] == pytest.approx(truth[j, :, 2], abs=0.01)
        # A class the LF never votes keeps the fallback's rate (a real fallback's is tiny), untouched.
        assert (start[j, :, 1 - c] == 0.0).all()


def test_a_pair_that_fires_together_does_not_bend_the_others():
    # LF 8 copies LF 0's spam votes half the time on top of its own: the pair co-fires far more than
    # independence allows. Each other LF's rates come from a median over 28 pairs, of which 7 hold the pair.
    L, y = one_sided(80_000, SIDES, HIT, FALSE_ALARM, seed=3)
    rng = np.random.default_rng(4)
    extra = np.where((L[:, 0] == 1) & (rng.random(len(y)) < 0.5), 1, -1)
    own = np.where((y == 1) & (rng.random(len(y)) < 0.1), 1, -1)
    L = np.column_stack([L, np.maximum(extra, own)])
    truth = vote_rates(L, y)
    start = start_of(L)
    for j, c in enumerate(SIDES):
        if j == 0:
            continue
        assert start[j, :, c] == pytest.approx(truth[j, :, c], abs=0.015)


def test_only_sources_whose_abstain_is_an_outcome_get_a_start():
    L, _ = one_sided(20_000, SIDES, HIT, FALSE_ALARM)
    outcome = np.array([True] * 6 + [False] * 2)
    start = start_of(L, outcome)
    assert (start[6:] == 0.0).all()
    for j in range(6):
        rates = start[j, :, SIDES[j]]
        assert ((rates >= TRIPLET_FLOOR) & (rates <= 1 - TRIPLET_FLOOR)).all()
        assert start[j, :, 2] == pytest.approx(1 - rates)


def test_too_few_sources_leave_the_fallback():
    L, _ = one_sided(5_000, SIDES[:2], HIT[:2], FALSE_ALARM[:2])
    assert (start_of(L) == 0.0).all()


def test_the_fit_from_triplets_learns_the_accuracies_the_start_from_a_guess_misses():
    # From "every LF 70 % right" the moment fit stops short (its l2 term pulls towards the guess).
    L, y = one_sided(100_000, SIDES, HIT, FALSE_ALARM, seed=5)
    true = np.array([(L[L[:, j] != -1, j] == y[L[:, j] != -1]).mean() for j in range(L.shape[1])])
    guess = MatrixCompletion(2, abstain="outcome", l2=0.1, init="accuracy").fit(L)
    triplets = MatrixCompletion(2, abstain="outcome", l2=0.1).fit(L)
    assert np.abs(triplets.learned_accuracies - true).max() < 0.01
    assert np.abs(guess.learned_accuracies - true).max() > 0.02


def test_more_than_two_classes_start_from_the_accuracy_guess():
    rng = np.random.default_rng(0)
    L = rng.integers(-1, 3, (2_000, 6))
    a = MatrixCompletion(3, abstain="outcome", init="triplets").fit(L)
    b = MatrixCompletion(3, abstain="outcome", init="accuracy").fit(L)
    assert np.array_equal(a.theta, b.theta)


def test_an_unknown_init_is_refused():
    with pytest.raises(ValueError, match="unknown init 'median'"):
        MatrixCompletion(2, init="median")


def with_near_copy(L, y, j, keep=0.95, seed=7):
    """A column that keeps `keep` of LF j's votes (a code LF rewriting a regex, a little differently)."""
    rng = np.random.default_rng(seed)
    copy = np.where((L[:, j] != -1) & (rng.random(len(y)) < keep), L[:, j], -1)
    return np.column_stack([L, copy])


def test_a_near_copy_is_a_dependent_pair_and_its_agreement_is_not_accuracy():
    L, y = one_sided(60_000, SIDES, HIT, FALSE_ALARM, seed=8)
    L2 = with_near_copy(L, y, 2)
    true = np.array([(L2[L2[:, j] != -1, j] == y[L2[:, j] != -1]).mean() for j in range(L2.shape[1])])
    fit = MatrixCompletion(2, abstain="outcome").fit(L2)
    assert fit.dependent_pairs == [(2, 8)]
    assert np.abs(fit.learned_accuracies - true).max() < 0.02
    # Read as accuracy, the pair's agreement makes both look far better than they are.
    misread = MatrixCompletion(2, abstain="outcome", init="accuracy").fit(L2)
    assert misread.dependent_pairs == []
    assert np.abs(misread.learned_accuracies - true).max() > 0.05


def test_independent_lfs_are_never_a_dependent_pair():
    for seed in range(5):
        L, _ = one_sided(60_000, SIDES * 2, HIT * 2, FALSE_ALARM * 2, seed=seed)
        assert MatrixCompletion(2, abstain="outcome").fit(L).dependent_pairs == []


def test_label_model_reports_dependent_pairs_by_the_callers_sources():
    # An exact copy first (column 1 copies column 0, fitted once), then a near-copy of column 3: the pair
    # is reported in the caller's numbering, with the copy's columns counted.
    L, y = one_sided(60_000, SIDES, HIT, FALSE_ALARM, seed=9)
    L = np.column_stack([L[:, :1], L[:, :1], L[:, 1:]])
    L = with_near_copy(L, y, 3)
    described = LabelModel(2).fit(L).describe()
    assert described["duplicate_of"][1] == 0
    assert described["dependent_pairs"] == [[3, 9]]
