"""LabelModel's interface and edge inputs (no database: only labeling.engine is imported)."""

import json

import numpy as np
import pytest

from labeling.engine import LabelModel


def test_zero_sources_is_a_clear_error():
    with pytest.raises(ValueError, match="no sources"):
        LabelModel(cardinality=2).fit(np.zeros((5, 0), dtype=int))


def test_the_refit_call_sequence_works():
    L = np.array([[0, 0, -1], [1, 1, 1], [-1, -1, -1], [0, 1, 0]])
    m = LabelModel(cardinality=2, seed=0)
    m.fit(L, L_dev=L[:2], Y_dev=np.array([0, 1]))
    proba = m.predict_proba(L)
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    pred = m.predict(L, tie_policy="abstain")
    assert pred[2] == -1
    json.dumps(m.describe())
