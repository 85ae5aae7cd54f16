"""Chorus's numerical engine: label matrices, label models, LF statistics and metrics.

Plain Python and numpy; it never imports Django, so it works from a notebook as well as in a worker.
"""

from .analysis import LFStats, MatrixStats, conflict_matrix, lf_stats, matrix_stats
from .dawid_skene import DawidSkene
from .label_model import LabelModel
from .majority import TIE_POLICIES, MajorityVote, predict_from_scores
from .matrix import ABSTAIN, check_label_matrix, vote_counts
from .matrix_completion import MatrixCompletion, VoteMoments, vote_moments
from .metrics import ClassScores, SplitScores, score_split

__all__ = [
    "ABSTAIN",
    "TIE_POLICIES",
    "ClassScores",
    "DawidSkene",
    "LFStats",
    "LabelModel",
    "MajorityVote",
    "MatrixCompletion",
    "MatrixStats",
    "SplitScores",
    "VoteMoments",
    "check_label_matrix",
    "conflict_matrix",
    "lf_stats",
    "matrix_stats",
    "predict_from_scores",
    "score_split",
    "vote_counts",
    "vote_moments",
]
