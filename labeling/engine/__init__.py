"""Chorus's numerical engine: label matrices, label models, LF statistics and metrics.

Plain Python and numpy; it never imports Django, so it works from a notebook as well as in a worker.
"""

from .analysis import LFStats, MatrixStats, conflict_matrix, lf_stats, matrix_stats
from .label_model import LabelModel
from .majority import TIE_POLICIES, MajorityVote, predict_from_scores
from .matrix import ABSTAIN, check_label_matrix, vote_counts
from .metrics import ClassScores, SplitScores, score_split

__all__ = [
    "ABSTAIN",
    "TIE_POLICIES",
    "ClassScores",
    "LFStats",
    "LabelModel",
    "MajorityVote",
    "MatrixStats",
    "SplitScores",
    "check_label_matrix",
    "conflict_matrix",
    "lf_stats",
    "matrix_stats",
    "predict_from_scores",
    "score_split",
    "vote_counts",
]
