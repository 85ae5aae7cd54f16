"""Agreement figures against worked examples from the methods' papers and standard texts, computed by hand."""

import numpy as np
import pytest

from labeling.engine.agreement import (
    agreement,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    pair_agreement,
    percent_agreement,
)

X = -1  # not labeled


def two_annotators(table):
    """Rows for a 2 x 2 table of (A's label, B's label) counts: table[a][b] items."""
    rows = [[a, b] for a in (0, 1) for b in (0, 1) for _ in range(table[a][b])]
    return np.array(rows)


def from_counts(counts):
    """A label matrix from Fleiss' form (items x classes, how many raters chose each class)."""
    counts = np.asarray(counts)
    return np.array([np.repeat(np.arange(counts.shape[1]), row) for row in counts])


# -- Cohen's kappa ---------------------------------------------------------------------------------

# Wikipedia, "Cohen's kappa", simple example: 50 grant proposals read by A and B, class 0 = yes.
# Both yes 20, A yes / B no 5, A no / B yes 10, both no 15.
GRANTS = two_annotators([[20, 5], [10, 15]])


def test_cohen_kappa_of_the_grant_proposals_example():
    # p_o = (20 + 15) / 50 = 0.7. A says yes on 25/50 = 0.5, B on 30/50 = 0.6, so
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5 and kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    pair = pair_agreement(GRANTS, 2, 0, 1)
    assert pair.n_items == 50
    assert pair.percent_agreement == pytest.approx(0.7)
    assert pair.kappa == pytest.approx(0.4)


def test_cohen_kappa_uses_each_annotators_own_distribution():
    # Wikipedia's two tables with the same p_o = 60/100 = 0.6 and different kappas.
    # [[45, 15], [25, 15]]: A yes 60/100, B yes 70/100, p_e = 0.6*0.7 + 0.4*0.3 = 0.54,
    #   kappa = (0.6 - 0.54) / 0.46 = 0.06 / 0.46 = 0.1304.
    # [[25, 35], [5, 35]]: A yes 60/100, B yes 30/100, p_e = 0.6*0.3 + 0.4*0.7 = 0.46,
    #   kappa = (0.6 - 0.46) / 0.54 = 0.14 / 0.54 = 0.2593.
    assert cohen_kappa(two_annotators([[45, 15], [25, 15]]), 2) == pytest.approx(0.06 / 0.46)
    assert cohen_kappa(two_annotators([[25, 35], [5, 35]]), 2) == pytest.approx(0.14 / 0.54)


def test_cohen_kappa_counts_only_items_both_labeled():
    # Items only A labeled change neither p_o nor either distribution over the common items.
    extra = np.array([[0, X]] * 30 + [[X, 1]] * 7 + [[X, X]] * 3)
    pair = pair_agreement(np.vstack([GRANTS, extra]), 2, 0, 1)
    assert (pair.n_items, pair.kappa) == (50, pytest.approx(0.4))


def test_cohen_kappa_is_symmetric_and_pairs_are_reported_in_order():
    pair = pair_agreement(GRANTS, 2, 1, 0)
    assert (pair.annotator_a, pair.annotator_b, pair.kappa) == (0, 1, pytest.approx(0.4))


# -- Fleiss' kappa ---------------------------------------------------------------------------------

# Fleiss (1971), "Measuring nominal scale agreement among many raters", Table 1: 30 patients, each
# diagnosed by 6 psychiatrists (not the same 6 each time) into depression, personality disorder,
# schizophrenia, neurosis, other. Each row: how many of the 6 chose each diagnosis.
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]  # fmt: skip


def test_fleiss_kappa_of_fleiss_1971_psychiatric_diagnoses():
    # Class totals 26, 26, 30, 55, 43 of 180 ratings: P_e = (26² + 26² + 30² + 55² + 43²) / 180²
    #   = 7126 / 32400.
    # Sum over patients of sum_j n_ij² = 680, so sum_i P_i = (680 - 30*6) / (6*5) = 500/30 and
    #   P-bar = 500 / 900 = 5/9.
    # kappa = (5/9 - 7126/32400) / (1 - 7126/32400) = (18000 - 7126) / (32400 - 7126) = 10874 / 25274
    #   = 0.4302, Fleiss' 0.430.
    L = from_counts(FLEISS_1971)
    assert L.shape == (30, 6)
    assert fleiss_kappa(L, 5) == pytest.approx(10874 / 25274)
    assert percent_agreement(L, 5) == pytest.approx(5 / 9)


# Wikipedia, "Fleiss' kappa", worked example: 10 items, 14 raters each, 5 categories.
FLEISS_WIKIPEDIA = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]  # fmt: skip


def test_fleiss_kappa_of_the_wikipedia_example():
    # Class totals 20, 28, 39, 21, 32 of 140: P_e = (400 + 784 + 1521 + 441 + 1024) / 140² = 4170 / 19600.
    # Sum of n_ij² over the rows: 196+60+70+94+74+98+58+46+66+66 = 828, so
    #   P-bar = (828 - 140) / (10 * 14 * 13) = 688 / 1820 = 0.3780.
    # Over the common denominator 254800: P-bar = 96320, P_e = 54210, so
    #   kappa = (96320 - 54210) / (254800 - 54210) = 42110 / 200590 = 0.2099, the page's 0.210.
    assert fleiss_kappa(from_counts(FLEISS_WIKIPEDIA), 5) == pytest.approx(42110 / 200590)


def test_fleiss_kappa_refuses_a_varying_number_of_labels_per_item():
    L = np.array([[0, 0, 1], [1, 1, X], [0, 0, 0], [1, X, X]])
    with pytest.raises(ValueError, match=r"1 items have 2 labels, 2 items have 3 labels.*Krippendorff"):
        fleiss_kappa(L, 2)


def test_fleiss_kappa_leaves_out_items_with_one_label():
    # The single-label rows do not make the count vary: they do not count at all.
    L = from_counts(FLEISS_1971)
    lone = np.full((4, 6), X)
    lone[:, 0] = [0, 1, 2, 3]
    assert fleiss_kappa(np.vstack([L, lone]), 5) == pytest.approx(10874 / 25274)


# -- Krippendorff's alpha --------------------------------------------------------------------------

# Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C, nominal data with
# missing values: 4 observers (rows A-D), 12 units, values 1..5 (here 0..4, so value v is class v-1).
KRIPPENDORFF_C = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, X, X, X],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, X, 3],
        [X, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, X],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, X],
    ]
)
KRIPPENDORFF_C = np.where(KRIPPENDORFF_C == X, X, KRIPPENDORFF_C - 1).T


def test_krippendorff_alpha_of_the_nominal_example_with_missing_values():
    # Unit 12 has one value and does not count; the other 11 units hold n = 3 + 8*4 + 3 + 2 = 40 values.
    # Coincidences within units (pairs / (m_u - 1)): on the diagonal
    #   o_11 = 3 (unit 1) + 2 (unit 8) + 2 (unit 11) = 7,   o_22 = 2 (unit 2) + 4 + 4 (units 5, 9) = 10,
    #   o_33 = 4 + 4 (units 3, 4) = 8,   o_44 = 4 (unit 7),   o_55 = 3 (unit 10);   sum = 32,
    # so 40 - 32 = 8 coincidences disagree. Value totals n_c = 9, 13, 10, 5, 3 (sum 40):
    #   sum_c n_c² = 81 + 169 + 100 + 25 + 9 = 384.
    # alpha = 1 - (n - 1) * 8 / (n² - 384) = 1 - 39 * 8 / 1216 = 1 - 312/1216 = 0.7434, the paper's 0.743.
    assert KRIPPENDORFF_C.shape == (12, 4)
    assert krippendorff_alpha(KRIPPENDORFF_C, 5) == pytest.approx(1 - 312 / 1216)


def test_krippendorff_alpha_of_the_binary_two_observer_example():
    # Same paper, section A: 2 observers, 10 units, binary. 4 units disagree, 5 agree on 0, 1 agrees on 1.
    # Coincidences: o_00 = 10, o_11 = 2, o_01 = o_10 = 4; n_0 = 14, n_1 = 6, n = 20.
    # alpha = 1 - (n - 1) * (o_01 + o_10) / (2 * n_0 * n_1) = 1 - 19 * 8 / 168 = 1 - 76/84 = 0.0952 (0.095).
    L = np.array([[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]]).T
    assert krippendorff_alpha(L, 2) == pytest.approx(1 - 76 / 84)


def test_alpha_is_fleiss_kappa_with_the_small_sample_correction():
    # With r labels on every item, 1 - alpha = (n - 1) / n * (1 - kappa), n = all labels counted:
    # for Fleiss 1971, 1 - alpha = 179/180 * 14400/25274.
    L = from_counts(FLEISS_1971)
    assert krippendorff_alpha(L, 5) == pytest.approx(1 - 179 / 180 * 14400 / 25274)


# -- The summary and the undefined cases ----------------------------------------------------------


def test_summary_of_a_varying_overlap_has_alpha_but_no_fleiss_kappa():
    s = agreement(KRIPPENDORFF_C, 5)
    assert (s.n_items, s.n_labels, s.labels_per_item) == (11, 40, None)
    assert s.fleiss_kappa is None
    assert s.krippendorff_alpha == pytest.approx(1 - 312 / 1216)
    # 6 pairs of observers; A and C share units 2-9 (8 units) and agree on 3, 4, 5, 7, 9.
    assert [(p.annotator_a, p.annotator_b) for p in s.pairs] == [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 2),
        (1, 3),
        (2, 3),
    ]
    ac = s.pairs[1]
    assert (ac.n_items, ac.percent_agreement) == (8, pytest.approx(5 / 8))


def test_summary_of_a_fixed_overlap_has_both():
    s = agreement(from_counts(FLEISS_1971), 5)
    assert (s.n_items, s.labels_per_item) == (30, 6)
    assert s.fleiss_kappa == pytest.approx(10874 / 25274)
    assert s.percent_agreement == pytest.approx(5 / 9)


def test_no_item_labeled_twice_gives_none_not_zero():
    L = np.array([[0, X, X], [X, 1, X], [X, X, 1], [X, X, X]])
    assert percent_agreement(L, 2) is None
    assert fleiss_kappa(L, 2) is None
    assert krippendorff_alpha(L, 2) is None
    pair = pair_agreement(L, 2, 0, 1)
    assert (pair.n_items, pair.percent_agreement, pair.kappa) == (0, None, None)
    s = agreement(L, 2)
    assert (s.n_items, s.percent_agreement, s.fleiss_kappa, s.krippendorff_alpha, s.pairs) == (
        0,
        None,
        None,
        None,
        (),
    )


def test_perfect_agreement_on_one_class_leaves_kappa_undefined():
    # p_e = 1: kappa is 0/0. It is None, and the percent agreement (1.0) says they agreed.
    L = np.array([[2, 2, 2], [2, 2, 2], [2, 2, X]])
    pair = pair_agreement(L, 3, 0, 2)
    assert (pair.percent_agreement, pair.kappa) == (1.0, None)
    assert fleiss_kappa(L[:2], 3) is None
    assert krippendorff_alpha(L, 3) is None
    assert agreement(L, 3).percent_agreement == 1.0


def test_perfect_agreement_on_several_classes_is_one():
    L = np.array([[0, 0, 0], [1, 1, 1], [4, 4, 4], [3, 3, 3]])
    assert cohen_kappa(L, 5, 0, 2) == 1.0
    assert fleiss_kappa(L, 5) == pytest.approx(1.0)
    assert krippendorff_alpha(L, 5) == pytest.approx(1.0)


def test_systematic_disagreement_is_below_zero():
    # A always says 0 where B says 1 and the other way round: p_o = 0, p_e = 0.5, kappa = -1.
    L = two_annotators([[0, 10], [10, 0]])
    assert cohen_kappa(L, 2) == pytest.approx(-1.0)
    assert krippendorff_alpha(L, 2) < 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="outside the 2 classes"):
        agreement(np.array([[0, 2]]), 2)
    with pytest.raises(ValueError, match="at least 2"):
        agreement(np.array([[0, 0]]), 1)
    with pytest.raises(ValueError, match="two different annotators"):
        pair_agreement(GRANTS, 2, 1, 1)
    with pytest.raises(ValueError, match="not a column"):
        pair_agreement(GRANTS, 2, 0, 5)
