"""Chorus's numerical engine: label matrices, label models, LF statistics and metrics.

Plain Python and numpy; it never imports Django, so it works from a notebook as well as in a worker.
"""

from .agreement import (
    Agreement,
    GoldAgreement,
    PairAgreement,
    agreement,
    cohen_kappa,
    fleiss_kappa,
    gold_agreement,
    krippendorff_alpha,
    pair_agreement,
    pairwise_agreement,
    percent_agreement,
)
from .analysis import (
    LFStats,
    MatrixStats,
    conflict_matrix,
    lf_stats,
    matrix_stats,
    overlap_matrix,
    pair_counts,
)
from .dawid_skene import DawidSkene
from .field_rules import FieldRule, FieldRuleError, apply_field_rule, parse_field_config
from .label_model import LabelModel
from .majority import TIE_POLICIES, MajorityVote, predict_from_scores
from .matrix import ABSTAIN, check_label_matrix, vote_counts
from .matrix_completion import MatrixCompletion, VoteMoments, vote_moments
from .metrics import ClassScores, SplitScores, score_split
from .sandbox import CodeLFError, check_code_lf, run_code_lf

__all__ = [
    "ABSTAIN",
    "TIE_POLICIES",
    "Agreement",
    "ClassScores",
    "CodeLFError",
    "DawidSkene",
    "FieldRule",
    "FieldRuleError",
    "GoldAgreement",
    "LFStats",
    "LabelModel",
    "MajorityVote",
    "MatrixCompletion",
    "MatrixStats",
    "PairAgreement",
    "SplitScores",
    "VoteMoments",
    "agreement",
    "apply_field_rule",
    "check_code_lf",
    "check_label_matrix",
    "cohen_kappa",
    "conflict_matrix",
    "fleiss_kappa",
    "gold_agreement",
    "krippendorff_alpha",
    "lf_stats",
    "matrix_stats",
    "overlap_matrix",
    "pair_agreement",
    "pair_counts",
    "pairwise_agreement",
    "parse_field_config",
    "percent_agreement",
    "predict_from_scores",
    "run_code_lf",
    "score_split",
    "vote_counts",
    "vote_moments",
]
