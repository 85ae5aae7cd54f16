"""Programmatic labeling: labeling functions, their immutable versions with stored votes, label-model runs."""

from __future__ import annotations

import io
import zlib

import numpy as np
from django.conf import settings
from django.db import models

from projects.models import JobStatus, Project

NPY_MAGIC = b"\x93NUMPY"


def pack(array: np.ndarray, compress: bool = False) -> bytes:
    """The array as .npy bytes; `compress` deflates them (votes, mostly abstentions, shrink ~10x, so the
    database reads and writes a tenth as much). unpack reads both."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    data = buffer.getvalue()
    return zlib.compress(data, 1) if compress else data


def unpack(data: bytes | memoryview | None) -> np.ndarray | None:
    if data is None:
        return None
    raw = bytes(data)
    if not raw.startswith(NPY_MAGIC):
        raw = zlib.decompress(raw)
    return np.load(io.BytesIO(raw), allow_pickle=False)


class LFKind(models.TextChoices):
    KEYWORD = "keyword", "Keyword"
    REGEX = "regex", "Regex"
    FIELD = "field", "Field rule"
    CODE = "code", "Python code"
    PREDICTIONS = "predictions", "Uploaded predictions"
    SERVICE = "service", "External service"


class LabelingFunctionQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)

    def active(self):
        return self.live().filter(active=True)


class LabelingFunction(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="lfs")
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Deleting keeps the row so that past runs still name their inputs.
    deleted_at = models.DateTimeField(null=True, blank=True)
    current = models.ForeignKey(
        "LFVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = LabelingFunctionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=models.Q(deleted_at__isnull=True),
                name="lf_name_unique_live",
            )
        ]

    def __str__(self) -> str:
        return self.name


class LFVersion(models.Model):
    """One immutable definition of an LF, and its votes over the project's samples once applied."""

    lf = models.ForeignKey(LabelingFunction, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=LFKind.choices)
    # The class a single-class kind votes; -1 for kinds that may vote any class (labeling.kinds).
    label = models.SmallIntegerField()
    config = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    message = models.TextField(blank=True)
    processed = models.PositiveIntegerField(default=0)
    # Votes over rows 0..n_rows-1 (int16, -1 abstain), in the project's row order.
    n_rows = models.PositiveIntegerField(default=0)
    votes = models.BinaryField(null=True, blank=True)
    coverage = models.FloatField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["lf_id", "number"]
        constraints = [models.UniqueConstraint(fields=["lf", "number"], name="lf_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.lf.name} v{self.number}"

    def vote_array(self) -> np.ndarray | None:
        return unpack(self.votes)


class LabelModelRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    # The run's number in its project (1, 2, ...): what the pages call it ("Refit #3"); the id is global.
    number = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    stage = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Inputs: the LF versions, in label-matrix column order.
    lf_versions = models.JSONField(default=list)
    n_samples = models.PositiveIntegerField(default=0)
    # Outputs.
    model = models.JSONField(default=dict)
    coverage = models.FloatField(null=True, blank=True)
    summary = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    lf_stats = models.JSONField(default=list)
    conflict_rows = models.JSONField(default=list)
    # For those rows, what the dashboard lists without reading whole vote arrays: "votes" (one list per row,
    # in lf_versions order, -1 abstain) and "predicted" (the label model's class, -1 uninformative).
    conflict_detail = models.JSONField(default=dict)
    # m x m in lf_versions order: share of samples where LFs i and j both vote and disagree / both vote.
    conflict_matrix = models.JSONField(default=list)
    overlap_matrix = models.JSONField(default=list)
    probabilities = models.BinaryField(null=True, blank=True)
    predictions = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "status", "created_at"])]
        constraints = [models.UniqueConstraint(fields=["project", "number"], name="run_number_unique")]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.project_id} ({self.status})"

    def save(self, *args, **kwargs):
        if self.number is None and self.project_id is not None:
            # request_refit holds the project's row lock here, so two runs cannot take the same number.
            last = LabelModelRun.objects.filter(project_id=self.project_id).aggregate(
                last=models.Max("number")
            )
            self.number = (last["last"] or 0) + 1
        super().save(*args, **kwargs)

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    def probability_array(self) -> np.ndarray | None:
        return unpack(self.probabilities)

    def prediction_array(self) -> np.ndarray | None:
        return unpack(self.predictions)


class VoteChunk(models.Model):
    """The votes of one LF version on rows [start, stop), while its application is spread over workers.

    Merged into LFVersion.votes by row index when the last chunk is in, then deleted. Writing the same chunk
    twice (a redelivered task) replaces it, so nothing is duplicated.
    """

    version = models.ForeignKey(LFVersion, on_delete=models.CASCADE, related_name="chunks")
    start = models.PositiveIntegerField()
    stop = models.PositiveIntegerField()
    votes = models.BinaryField(null=True, blank=True)
    done = models.BooleanField(default=False)

    class Meta:
        ordering = ["version_id", "start"]
        constraints = [models.UniqueConstraint(fields=["version", "start"], name="vote_chunk_unique")]

    def __str__(self) -> str:
        return f"{self.version_id}[{self.start}:{self.stop}]"


class ExportJob(models.Model):
    """A file export built by a worker (Parquet, the label matrix, the project archive), then downloaded."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    format = models.CharField(max_length=20)
    # split, only_informative, only_gold (labeling.export.ExportOptions).
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    message = models.TextField(blank=True)
    # The run the file was built from (archives name it inside too).
    run = models.ForeignKey(LabelModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)


class RestoreJob(models.Model):
    """A project archive uploaded to become a new project, restored by a worker (labeling.restore_jobs)."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to="restores/%Y/%m/")
    filename = models.CharField(max_length=255)
    # The new project's name (blank: the archived project's, marked "(restored <date>)").
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    # What the worker is at ("samples", "hand labels", ...), and how far into the samples.
    stage = models.CharField(max_length=40, blank=True)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    # The project made; set once the restore has committed.
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    errors = models.JSONField(default=list)
    # A finished restore's notices (labeling.archive.Restored): LFs restored inactive, and why.
    notices = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"restore {self.pk} of {self.filename} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)
