"""Reads shared by pages and the API."""

from __future__ import annotations

from django.db.models import Count, Q

from .models import Annotation, Project, Sample


def next_sample_for(project: Project, user) -> Sample | None:
    """The annotator's next sample: one they have not labeled or skipped, unlabeled by anyone first, in row order."""
    mine = Annotation.objects.filter(project=project, annotator=user).values("sample_id")
    todo = Sample.objects.filter(project=project).exclude(pk__in=mine)
    untouched = todo.filter(annotations__isnull=True).order_by("row").first()
    return untouched or todo.order_by("row").first()


def progress_for(project: Project, user) -> dict:
    total = Sample.objects.filter(project=project).count()
    mine = Annotation.objects.filter(project=project, annotator=user).aggregate(
        labeled=Count("id", filter=Q(label__isnull=False)), skipped=Count("id", filter=Q(label__isnull=True))
    )
    return {"total": total, "labeled": mine["labeled"], "skipped": mine["skipped"]}


def project_summary(project: Project) -> dict:
    by_split = dict(Sample.objects.filter(project=project).values_list("split").annotate(n=Count("id")))
    gold = dict(
        Sample.objects.filter(project=project, gold_label__isnull=False)
        .values_list("gold_label")
        .annotate(n=Count("id"))
    )
    return {
        "samples": sum(by_split.values()),
        "by_split": {s: by_split.get(s, 0) for s in ("train", "dev", "test")},
        "hand_labeled": sum(gold.values()),
        "gold_distribution": {project.labels[i]: gold.get(i, 0) for i in range(project.cardinality)},
    }
