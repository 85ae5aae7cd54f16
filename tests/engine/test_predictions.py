"""Uploaded predictions as votes: the minimum score, and predictions given without one."""

import math

import numpy as np

from labeling.engine.predictions import parse_predictions, votes_from_predictions

LABELS = ["HAM", "SPAM"]


def test_a_prediction_without_a_score_still_votes_under_a_minimum_score():
    preds = parse_predictions(
        [
            {"id": "1", "label": "SPAM", "score": 0.9},
            {"id": "2", "label": "HAM"},
            {"id": "3", "label": "HAM", "score": 0.2},
        ],
        LABELS,
    )
    assert math.isnan(preds.scores[1])
    votes = votes_from_predictions(["1", "2", "3", "4"], preds, min_score=0.5)
    # 3 is scored below the minimum and abstains; 2 has no score and votes; 4 has no prediction.
    assert votes.tolist() == [1, 0, -1, -1]


def test_a_score_equal_to_the_minimum_votes():
    preds = parse_predictions([{"id": "a", "label": "SPAM", "score": "0.5"}], LABELS)
    assert votes_from_predictions(np.array(["a"]), preds, min_score=0.5).tolist() == [1]
