"""Agreement between annotators and each annotator's quality, read from the project's Annotation rows.

The figures come from labeling.engine's agreement functions, pure numpy (no Django, no labeling app), so
projects depends on no app of labeling's. The annotators' labels become one items x annotators matrix in
one query and a few numpy calls (np.unique, fancy indexing): no Python loop over annotations or samples.

Only hand labels given in Chorus count (imported labels have no annotator); skips are no label; the labels
of annotators an admin excluded count for nothing here except their own row of the quality table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from labeling.engine import PairAgreement, agreement, gold_agreement, pairwise_agreement

from .models import Annotation, AnnotatorExclusion, Project, Sample


@dataclass(frozen=True)
class AnnotatorMatrix:
    """L[i, j] is annotator j's label on sample sample_ids[i] (-1: none); annotators ordered by username."""

    L: np.ndarray
    sample_ids: np.ndarray
    annotator_ids: list[int]
    names: list[str]


def counted_labels(project: Project, *, with_excluded: bool = False):
    """The hand labels that count: given in Chorus (not imported), not skips, not of an excluded annotator."""
    rows = Annotation.objects.filter(
        project=project, source=Annotation.Source.HUMAN, annotator__isnull=False, label__isnull=False
    )
    if not with_excluded:
        excluded = AnnotatorExclusion.objects.filter(project=project).values("annotator_id")
        rows = rows.exclude(annotator_id__in=excluded)
    return rows


def annotator_order(annotator_ids: np.ndarray) -> tuple[list[int], list[str], np.ndarray]:
    """The annotators of these label rows ordered by username, their names, and each row's column in that
    order (found for all rows at once)."""
    users = dict(
        get_user_model()
        .objects.filter(pk__in=np.unique(annotator_ids).tolist())
        .values_list("pk", "username")
    )
    order = sorted(users, key=lambda pk: users[pk])
    ids = np.array(order, dtype=np.int64)
    sorter = np.argsort(ids)
    column = sorter[np.searchsorted(ids, annotator_ids, sorter=sorter)]
    return order, [users[pk] for pk in order], column


def annotator_matrix(project: Project, *, with_excluded: bool = False) -> AnnotatorMatrix:
    rows = counted_labels(project, with_excluded=with_excluded)
    data = np.array(list(rows.values_list("sample_id", "annotator_id", "label")), dtype=np.int64)
    if data.size == 0:
        return AnnotatorMatrix(np.zeros((0, 0), dtype=np.int64), np.zeros(0, dtype=np.int64), [], [])
    sample_ids, item = np.unique(data[:, 0], return_inverse=True)
    order, names, column = annotator_order(data[:, 1])
    L = np.full((len(sample_ids), len(order)), -1, dtype=np.int64)
    L[item, column] = data[:, 2]
    return AnnotatorMatrix(L, sample_ids, order, names)


def _pair_dict(matrix: AnnotatorMatrix, pair: PairAgreement) -> dict:
    return {
        "annotator_a": matrix.names[pair.annotator_a],
        "annotator_b": matrix.names[pair.annotator_b],
        "n_items": pair.n_items,
        "percent_agreement": pair.percent_agreement,
        "kappa": pair.kappa,
    }


def project_agreement(project: Project) -> dict:
    """The project's agreement (over samples with at least two labels) and the table of annotator pairs."""
    matrix = annotator_matrix(project)
    k = max(project.cardinality, 2)
    result = agreement(matrix.L if matrix.L.size else np.zeros((0, 1), dtype=np.int64), k)
    return {
        "annotators": len(matrix.names),
        "n_items": result.n_items,
        "n_labels": result.n_labels,
        "labels_per_item": result.labels_per_item,
        "percent_agreement": result.percent_agreement,
        "fleiss_kappa": result.fleiss_kappa,
        "krippendorff_alpha": result.krippendorff_alpha,
        "pairs": [_pair_dict(matrix, p) for p in result.pairs],
    }


def _check_answers(project: Project, sample_ids: np.ndarray) -> np.ndarray:
    """The known answer of each sample that is a gold check, -1 for the others."""
    checks = np.array(
        list(
            Sample.objects.filter(project=project, check_label__isnull=False).values_list("pk", "check_label")
        ),
        dtype=np.int64,
    ).reshape(-1, 2)
    gold = np.full(len(sample_ids), -1, dtype=np.int64)
    if len(checks) and len(sample_ids):
        at = np.searchsorted(sample_ids, checks[:, 0])
        inside = at < len(sample_ids)
        hit = inside.copy()
        hit[inside] = sample_ids[at[inside]] == checks[inside, 0]
        gold[at[hit]] = checks[hit, 1]
    return gold


def annotator_quality(project: Project) -> list[dict]:
    """One row per annotator who labeled in Chorus (excluded ones too, marked): labels and skips, gold checks
    answered and right (accuracy, and Cohen's kappa against the known answers), and agreement with the
    others (not excluded) on the samples they share, from totals: agreeing / shared over all their pairs."""
    matrix = annotator_matrix(project, with_excluded=True)
    excluded = set(AnnotatorExclusion.objects.filter(project=project).values_list("annotator_id", flat=True))
    counts = {
        row["annotator_id"]: row
        for row in Annotation.objects.filter(project=project, source=Annotation.Source.HUMAN)
        .exclude(annotator__isnull=True)
        .values("annotator_id")
        .annotate(
            labeled=Count("id", filter=Q(label__isnull=False)),
            skipped=Count("id", filter=Q(label__isnull=True)),
        )
    }
    if not matrix.names:
        return []
    k = max(project.cardinality, 2)
    gold = gold_agreement(matrix.L, _check_answers(project, matrix.sample_ids), k)
    counted = np.array([pk not in excluded for pk in matrix.annotator_ids])
    shared = np.zeros(len(matrix.names), dtype=np.int64)
    agreeing = np.zeros(len(matrix.names), dtype=np.int64)
    for pair in pairwise_agreement(matrix.L, k):
        a, b = pair.annotator_a, pair.annotator_b
        agreed = round(pair.percent_agreement * pair.n_items)
        # Each side's figure is against the others that count; an excluded annotator is still measured.
        if counted[b]:
            shared[a] += pair.n_items
            agreeing[a] += agreed
        if counted[a]:
            shared[b] += pair.n_items
            agreeing[b] += agreed
    out = []
    for j, (pk, name) in enumerate(zip(matrix.annotator_ids, matrix.names, strict=True)):
        g = gold[j]
        out.append(
            {
                "annotator_id": pk,
                "annotator": name,
                "labeled": counts.get(pk, {}).get("labeled", 0),
                "skipped": counts.get(pk, {}).get("skipped", 0),
                "checks_answered": g.n_items,
                "checks_correct": g.correct,
                "check_accuracy": g.accuracy,
                "check_kappa": g.kappa,
                "shared_with_others": int(shared[j]),
                "agreeing_with_others": int(agreeing[j]),
                "agreement_with_others": float(agreeing[j] / shared[j]) if shared[j] else None,
                "excluded": pk in excluded,
            }
        )
    return out
