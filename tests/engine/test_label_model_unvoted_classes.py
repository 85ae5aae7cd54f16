"""A class no source votes is left out of the fit: the model is the one fitted on the voted classes."""

import numpy as np
import pytest

from labeling.engine import LabelModel


def lfs(n=4_000, seed=0):
    """Five one-sided LFs over classes 0 and 2 (class 1 of three is never voted), with their truth."""
    rng = np.random.default_rng(seed)
    y = rng.choice([0, 2], n)
    L = np.full((n, 5), -1, dtype=np.int64)
    for j, c in enumerate([0, 2, 0, 2, 2]):
        fires = np.where(y == c, rng.random(n) < 0.4, rng.random(n) < 0.05)
        L[fires, j] = c
    return L, y


def as_binary(L):
    return np.where(L == 2, 1, L)


def test_an_unvoted_class_changes_nothing_and_gets_probability_zero():
    L, y = lfs()
    three = LabelModel(3).fit(L)
    two = LabelModel(2).fit(as_binary(L))
    p3, p2 = three.predict_proba(L), two.predict_proba(as_binary(L))
    assert p3.shape == (len(L), 3)
    assert (p3[:, 1] == 0).all()
    assert p3[:, [0, 2]] == pytest.approx(p2)
    assert np.array_equal(
        three.predict(L), np.where(two.predict(as_binary(L)) == 1, 2, two.predict(as_binary(L)))
    )
    assert three.learned_accuracies == pytest.approx(two.learned_accuracies)
    d = three.describe()
    assert d["unvoted_classes"] == [1]
    assert d["class_prior"][1] == 0 and sum(d["class_prior"]) == pytest.approx(1)
    assert "fitted on the 2 classes some source votes" in d["reason"]
    assert LabelModel(2).fit(as_binary(L)).describe()["unvoted_classes"] == []


def test_dev_gold_of_an_unvoted_class_is_left_out_of_the_choice():
    L, y = lfs(seed=1)
    L_dev, y_dev = lfs(n=600, seed=2)
    y_dev = y_dev.copy()
    y_dev[:50] = 1  # gold nobody can predict: no source votes class 1
    three = LabelModel(3, selection_metric="accuracy").fit(L, L_dev=L_dev, Y_dev=y_dev)
    two = LabelModel(2, selection_metric="accuracy").fit(
        as_binary(L), L_dev=as_binary(L_dev), Y_dev=np.where(y_dev == 1, -1, np.where(y_dev == 2, 1, 0))
    )
    assert three.chosen == two.chosen and three.settings == two.settings
    assert three.dev_rows_scored == 550
    assert three.predict_proba(L)[:, [0, 2]] == pytest.approx(two.predict_proba(as_binary(L)))


def test_a_vote_for_the_unvoted_class_outside_the_fit_counts_as_an_abstain():
    L, _ = lfs(seed=3)
    model = LabelModel(3).fit(L)
    row = np.array([[1, 2, -1, -1, -1]])  # source 0 votes class 1, which it never voted in the fit
    assert model.predict_proba(row) == pytest.approx(model.predict_proba(np.array([[-1, 2, -1, -1, -1]])))


def test_one_voted_class_is_fitted_as_it_is():
    L = np.full((100, 3), -1)
    L[::3, 0] = 0
    L[::5, 1] = 0
    model = LabelModel(3).fit(L)
    assert model.describe()["unvoted_classes"] == []
    assert model.predict_proba(L).shape == (100, 3)
