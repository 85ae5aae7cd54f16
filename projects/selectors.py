"""Reads shared by pages and the API."""

from __future__ import annotations

from collections import Counter

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from .models import Adjudication, Annotation, Comment, Membership, Project, Sample


def next_sample_for(project: Project, user) -> Sample | None:
    """A look at the annotator's next sample in row order, without claiming it (projects.queue claims)."""
    mine = Annotation.objects.filter(sample=OuterRef("pk"), annotator=user)
    return Sample.objects.filter(project=project, queued=True).exclude(Exists(mine)).order_by("row").first()


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


def projects_for(user):
    """The user's projects, each with `role`, `sample_count`, `hand_labeled` and `my_labeled` annotated."""

    def count(qs):
        counted = qs.order_by().values("project").annotate(n=Count("id")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), 0)

    here = OuterRef("pk")
    return (
        Project.objects.for_user(user)
        .annotate(
            role=Subquery(Membership.objects.filter(project=here, user=user).values("role")[:1]),
            sample_count=count(Sample.objects.filter(project=here)),
            hand_labeled=count(Sample.objects.filter(project=here, gold_label__isnull=False)),
            my_labeled=count(Annotation.objects.filter(project=here, annotator=user, label__isnull=False)),
        )
        .order_by("-created_at")
    )


def my_annotation(project: Project, user, sample: Sample) -> Annotation | None:
    return Annotation.objects.filter(project=project, annotator=user, sample=sample).first()


def my_last_annotation(project: Project, user) -> Annotation | None:
    return (
        Annotation.objects.filter(project=project, annotator=user)
        .select_related("sample")
        .order_by("-updated_at", "-id")
        .first()
    )


def my_neighbours(
    project: Project, user, annotation: Annotation | None
) -> tuple[Sample | None, Sample | None]:
    """The samples I labeled just before and just after `annotation` (None: the queue's head, after them all)."""
    mine = Annotation.objects.filter(project=project, annotator=user).select_related("sample")
    if annotation is None:
        last = mine.order_by("-updated_at", "-id").first()
        return (last.sample if last else None), None
    at = annotation.updated_at
    before = (
        mine.filter(Q(updated_at__lt=at) | Q(updated_at=at, id__lt=annotation.pk))
        .order_by("-updated_at", "-id")
        .first()
    )
    after = (
        mine.filter(Q(updated_at__gt=at) | Q(updated_at=at, id__gt=annotation.pk))
        .order_by("updated_at", "id")
        .first()
    )
    return (before.sample if before else None), (after.sample if after else None)


def comments_for(project: Project, user, sample: Sample, *, everyone: bool):
    """A sample's comments: all of them for reviewers and admins (everyone=True), else only the user's own."""
    comments = Comment.objects.filter(project=project, sample=sample).select_related("author")
    return comments if everyone else comments.filter(author=user)


def others_labels(project: Project, user, sample: Sample) -> list[dict]:
    """Other people's labels on a sample, by class (only for projects that are not blind)."""
    counts = Counter(
        Annotation.objects.filter(sample=sample, label__isnull=False)
        .exclude(annotator=user)
        .values_list("label", flat=True)
    )
    return [{"label": project.label_name(i), "count": counts[i]} for i in sorted(counts)]


def disputed(project: Project):
    """Samples whose hand labels disagree and that no reviewer has adjudicated, in row order."""
    return Sample.objects.filter(project=project, disputed=True).order_by("row")


def hand_labels_of(project: Project, sample: Sample) -> list[dict]:
    """Every hand label on a sample with who gave it (for reviewers), imported ones last."""
    rows = (
        Annotation.objects.filter(sample=sample)
        .select_related("annotator")
        .order_by("source", "created_at", "id")
    )
    return [
        {
            "who": a.annotator.username if a.annotator else "imported",
            "label": project.label_name(a.label),
            "index": a.label,
            "skipped": a.label is None,
            "reason": a.reason,
            "source": a.source,
        }
        for a in rows
    ]


def adjudication_of(sample: Sample) -> Adjudication | None:
    return Adjudication.objects.filter(sample=sample).select_related("reviewer").first()
