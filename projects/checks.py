"""Crowd quality controls, as services: gold checks (samples with a known answer, mixed into every
annotator's queue unannounced) and excluding an annotator's hand labels from counting.

Both change samples' gold labels and queue state at once (services.refresh_samples), and both are in the
audit log. Reads (agreement, the quality table) are in projects.quality.
"""

from __future__ import annotations

from django.db import transaction

from . import audit
from .models import Annotation, AnnotatorExclusion, Project, Sample
from .services import ServiceError, refresh_samples
from .signals import gold_changed

# Samples one request may mark or unmark: a batch an admin pastes, not a whole project.
MAX_CHECKS_PER_REQUEST = 1000
# Sample ids kept in an audit event's details (the count is always there).
AUDIT_IDS = 50


def _gold_changed(project: Project, ids: list[int]) -> None:
    if ids:
        transaction.on_commit(lambda: gold_changed.send(sender=Project, project=project, sample_ids=ids))


def _refresh(project: Project, sample_ids) -> None:
    _gold_changed(project, refresh_samples(project, sample_ids))


def check_problem(project: Project, sample: Sample, label: int | None) -> tuple[str, str] | None:
    """Why `sample` cannot become a check answered `label` (None: its gold label), with the field at fault;
    None when it can."""
    if sample.project_id != project.pk:
        return f"sample {sample.external_id} is not in this project", "samples"
    answer = label if label is not None else sample.gold_label
    if answer is None:
        return f"sample {sample.external_id} has no gold label; give its known answer", "label"
    if not 0 <= answer < project.cardinality:
        return f"label must be one of {', '.join(project.labels)}", "label"
    if sample.check_label is None and sample.gold_label is not None and answer != sample.gold_label:
        # A check's answer becomes the sample's gold: a different one would overwrite the gold label the
        # sample has (imported, or agreed by its annotators) without a word.
        gold = project.label_name(sample.gold_label)
        return (
            f"sample {sample.external_id} already has the gold label {gold}; a check answering "
            f"{project.label_name(answer)} would replace it. Give {gold} (or no label, to use its gold), "
            "or correct its gold first",
            "label",
        )
    return None


@transaction.atomic
def mark_checks(*, project: Project, items: list[tuple[Sample, int | None]], by=None) -> list[Sample]:
    """Make each sample a gold check with its known answer: the label given, else its gold label.

    All or nothing: a sample from another project, a label out of range or a sample with no answer at all
    refuses the whole batch, naming the sample.
    """
    if not items:
        raise ServiceError("name at least one sample to make a gold check", "samples")
    if len(items) > MAX_CHECKS_PER_REQUEST:
        raise ServiceError(
            f"at most {MAX_CHECKS_PER_REQUEST:,} samples per request ({len(items):,} given)", "samples"
        )
    marked = []
    for sample, label in items:
        problem = check_problem(project, sample, label)
        if problem is not None:
            raise ServiceError(*problem)
        answer = label if label is not None else sample.gold_label
        sample.check_label = answer
        marked.append(sample)
    Sample.objects.bulk_update(marked, ["check_label"], batch_size=500)
    ids = [s.external_id for s in marked]
    audit.record(
        project,
        by,
        "check.marked",
        None,
        target_label=f"{len(marked)} sample{'' if len(marked) == 1 else 's'}",
        count=len(marked),
        samples=ids[:AUDIT_IDS],
    )
    _refresh(project, [s.pk for s in marked])
    return marked


@transaction.atomic
def unmark_checks(*, project: Project, samples: list[Sample], by=None) -> int:
    """The samples stop being checks; their annotators' labels count like any other's again."""
    samples = [s for s in samples if s.project_id == project.pk and s.check_label is not None]
    if not samples:
        return 0
    Sample.objects.filter(pk__in=[s.pk for s in samples]).update(check_label=None)
    audit.record(
        project,
        by,
        "check.unmarked",
        None,
        target_label=f"{len(samples)} sample{'' if len(samples) == 1 else 's'}",
        count=len(samples),
        samples=[s.external_id for s in samples][:AUDIT_IDS],
    )
    _refresh(project, [s.pk for s in samples])
    return len(samples)


def _labeled_samples(project: Project, annotator) -> list[int]:
    return list(
        Annotation.objects.filter(project=project, annotator=annotator).values_list("sample_id", flat=True)
    )


@transaction.atomic
def exclude_annotator(*, project: Project, annotator, by=None) -> AnnotatorExclusion:
    """The annotator's hand labels stop counting for gold, agreement and the label matrix (they stay stored)."""
    labeled = _labeled_samples(project, annotator)
    if not labeled:
        raise ServiceError(f"{annotator.username} has no hand labels in this project", "annotator")
    exclusion, created = AnnotatorExclusion.objects.get_or_create(
        project=project, annotator=annotator, defaults={"excluded_by": by}
    )
    if created:
        audit.record(
            project, by, "annotator.excluded", exclusion, target_label=annotator.username, labels=len(labeled)
        )
        _refresh(project, labeled)
    return exclusion


@transaction.atomic
def include_annotator(*, project: Project, annotator, by=None) -> bool:
    """Undo an exclusion: the annotator's labels count again. False when they were not excluded."""
    deleted, _ = AnnotatorExclusion.objects.filter(project=project, annotator=annotator).delete()
    if deleted:
        labeled = _labeled_samples(project, annotator)
        audit.record(
            project, by, "annotator.included", None, target_label=annotator.username, labels=len(labeled)
        )
        _refresh(project, labeled)
    return bool(deleted)
