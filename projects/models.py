"""Who and what: projects, their members and roles, samples, hand labels and imports."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models

# The "line 290: " (or "row 17: ") an import problem's message opens with when it names its line.
_WHERE = re.compile(r"(line|row) (\d+): ")


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"
    VIEWER = "viewer", "Viewer"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    DEV = "dev", "Dev"
    TEST = "test", "Test"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class QueueOrder(models.TextChoices):
    ROW = "row", "In order"
    RANDOM = "random", "Random"
    LEAST_CONFIDENT = "least_confident", "Least confident first"
    CONFLICTS = "conflicts", "LF conflicts first"
    UNCOVERED = "uncovered", "Not covered by any LF first"


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Project(models.Model):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="Shown to annotators beside each sample.")
    # Ordered class names; a vote or hand label stores the index, so classes are only ever appended.
    labels = models.JSONField(default=list)
    # Which label model refits use: "auto" picks by dev score (see labeling.engine.LabelModel).
    label_model = models.CharField(max_length=40, default="auto")
    # Modules code LFs may import beyond re, math and string (checked against the sandbox's safe list).
    code_modules = models.JSONField(default=list, blank=True)
    seed = models.IntegerField(default=0)
    # Annotation workflow: how many annotators label each sample, the queue's order, and whether annotators
    # may see others' labels and the model's predictions (blind: they may not).
    overlap = models.PositiveSmallIntegerField(default=1)
    queue_order = models.CharField(max_length=20, choices=QueueOrder.choices, default=QueueOrder.ROW)
    blind = models.BooleanField(default=True)
    # Reasons an annotator can pick when skipping (they may also type their own).
    skip_reasons = models.JSONField(default=list, blank=True)
    # Gold checks: about one sample in `check_every` an annotator is given is a check (0: none), unannounced.
    check_every = models.PositiveSmallIntegerField(default=10)
    # Each (non-excluded) annotator's hand labels become one source of the label matrix at refit.
    annotators_as_sources = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def cardinality(self) -> int:
        return len(self.labels)

    def label_index(self, name: str) -> int | None:
        try:
            return self.labels.index(name)
        except ValueError:
            return None

    def label_name(self, index: int | None) -> str | None:
        if index is None or index < 0 or index >= len(self.labels):
            return None
        return self.labels[index]

    def label_keys(self) -> list[tuple[str, str]]:
        """(key, class name) pairs: 1..9 then 0, then letters that are not taken by actions."""
        keys = [str(i) for i in range(1, 10)] + ["0"] + list("qwertyiopadfghjklzxcvnm")
        return list(zip(keys, self.labels, strict=False))


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    # This member's own queue order; blank follows the project's.
    queue_order = models.CharField(max_length=20, choices=QueueOrder.choices, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class SampleQuerySet(models.QuerySet):
    def for_project(self, project):
        return self.filter(project=project)

    def unlabeled(self):
        return self.filter(annotations__isnull=True)


class Sample(models.Model):
    # No index of its own: the (project, row) unique index serves every lookup by project, and each index
    # is paid for on every imported row.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="samples", db_index=False)
    # Dense index inside the project (0..n-1): the position of the sample in every vote array.
    row = models.PositiveIntegerField()
    external_id = models.CharField(max_length=255)
    text = models.TextField()
    fields = models.JSONField(default=dict, blank=True)
    split = models.CharField(max_length=5, choices=Split.choices, default=Split.TRAIN)
    # The agreed hand label (a class index), kept in step with the annotations by projects.services.
    gold_label = models.SmallIntegerField(null=True, blank=True)
    # A gold check's known answer (a class index); None for a sample that is not a check. A check is gold,
    # is given to every annotator once whatever the overlap, and never shows as a check to an annotator.
    check_label = models.SmallIntegerField(null=True, blank=True)
    # The queue's state, kept in step by projects.services and projects.queue so the queue is an index
    # range scan: hand labels by annotators (skips and imported labels do not count), whether the sample
    # still waits for labels (fewer than the project's overlap, not adjudicated), whether its hand labels
    # disagree (and nobody adjudicated), and who holds the short-lived claim on it.
    hand_labels = models.PositiveSmallIntegerField(default=0)
    queued = models.BooleanField(default=True)
    disputed = models.BooleanField(default=False)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # indexed below where set: a full index would hold a NULL for every sample
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SampleQuerySet.as_manager()

    class Meta:
        ordering = ["row"]
        constraints = [
            models.UniqueConstraint(fields=["project", "row"], name="sample_row_unique"),
            models.UniqueConstraint(fields=["project", "external_id"], name="sample_external_id_unique"),
        ]
        indexes = [
            # No (project, split, row) index: a split holds a tenth of a project or more, so the (project, row)
            # index with a filter serves the split's pages nearly as well, and every index costs each import.
            models.Index(fields=["project", "row"], condition=models.Q(queued=True), name="sample_queued"),
            models.Index(
                fields=["project", "row"], condition=models.Q(disputed=True), name="sample_disputed"
            ),
            models.Index(
                fields=["project", "row"], condition=models.Q(check_label__isnull=False), name="sample_check"
            ),
            # Deleting a user clears their claims (SET_NULL): `claimed_by_id IN (...)` implies NOT NULL, so
            # the partial index serves it.
            models.Index(
                fields=["claimed_by"], condition=models.Q(claimed_by__isnull=False), name="sample_claimed_by"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.external_id}"


class Annotation(models.Model):
    """One annotator's hand label on one sample; `label` is None when the annotator skipped it."""

    class Source(models.TextChoices):
        HUMAN = "human", "Labeled in Chorus"
        IMPORT = "import", "Imported"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.HUMAN)
    label = models.SmallIntegerField(null=True, blank=True)
    # Why the annotator skipped (only for skips).
    reason = models.CharField(max_length=200, blank=True)
    # What this label replaced ({"label", "reason"}), so the labeling page's undo puts it back; None when
    # the annotation is new (undo removes it then).
    previous = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "annotator"],
                condition=models.Q(annotator__isnull=False),
                name="one_annotation_per_annotator",
            ),
            models.UniqueConstraint(
                fields=["sample"], condition=models.Q(source="import"), name="one_imported_label_per_sample"
            ),
        ]
        indexes = [models.Index(fields=["project", "annotator", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.annotator_id or self.source} on {self.sample_id}: {self.label}"

    @property
    def skipped(self) -> bool:
        return self.label is None


class Adjudication(models.Model):
    """A reviewer's decision on a sample whose hand labels disagree; it is the sample's gold label."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="adjudications")
    sample = models.OneToOneField(Sample, on_delete=models.CASCADE, related_name="adjudication")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="adjudications"
    )
    label = models.SmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sample_id} adjudicated {self.label} by {self.reviewer_id}"


class AnnotatorExclusion(models.Model):
    """An admin's decision that an annotator's hand labels stop counting (for gold, agreement and the label
    matrix). The labels themselves stay; deleting this row counts them again."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exclusions")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="one_exclusion_per_annotator")
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} excluded from {self.project_id}"


class Comment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comments")
    sample = models.ForeignKey(Sample, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="sample_comments"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["sample", "created_at"])]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.sample_id}"


class ImportJob(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    filename = models.CharField(max_length=255)
    # text_field, id_field, label_field, split_field, label_map, format, split ratios and seed.
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    processed = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    imported = models.PositiveIntegerField(default=0)
    labels_imported = models.PositiveIntegerField(default=0)
    # Rows of the file whose id the project already had: left as they were, or updated (on_duplicate).
    skipped = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    # Rows handled by the second pass (the write), so the bar keeps moving after the check.
    written = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)
    # SHA-256 of the file's plain bytes (after gzip or zip): the same rows as .csv and as .csv.gz match, so
    # importing them again without an id field is asked about first (services.start_import).
    content_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "content_sha256"], name="import_content")]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.filename} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        """The first half of the bar is the check (total estimated from the bytes read), the second the write."""
        if self.status == JobStatus.DONE:
            return 100
        if not self.total:
            return 0
        return min(99, int(50 * (min(self.processed, self.total) + self.written) / self.total))

    @property
    def report(self) -> str:
        """What the import did, in a sentence: "Imported 990 samples; 10 duplicates skipped"."""
        if self.status != JobStatus.DONE:
            return ""
        parts = [f"Imported {self.imported:,} sample{'' if self.imported == 1 else 's'}"]
        if self.labels_imported:
            parts.append(f"{self.labels_imported:,} with a label")
        if self.skipped:
            parts.append(f"{self.skipped:,} duplicate{'' if self.skipped == 1 else 's'} skipped")
        if self.updated:
            parts.append(f"{self.updated:,} duplicate{'' if self.updated == 1 else 's'} updated")
        return "; ".join(parts)

    @property
    def problems(self) -> list[dict]:
        """The errors as the job page lists them: where (a badge), the field, and the message without the
        line it opens with, so the page names each line once (the API keeps the message whole, on its own)."""
        shown = []
        for error in self.errors:
            message, where = error.get("message", ""), None
            if error.get("line") is not None:
                opening = _WHERE.match(message)
                if opening and int(opening.group(2)) == error["line"]:
                    where, message = f"{opening.group(1)} {error['line']}", message[opening.end() :]
                else:
                    where = f"line {error['line']}"
            shown.append({"where": where, "field": error.get("field"), "message": message})
        return shown


class ApiToken(models.Model):
    """A named API key of one user. Only its SHA-256 is kept: the key itself is shown once, when made.

    Several per user (one per script or machine), so revoking one does not break the others.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The key's first characters, shown in the list so a person can tell their keys apart.
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.user} · {self.name}"


class Invitation(models.Model):
    """An admin's invitation to join a project with a role, by a link (email blank) or sent to an email.

    The link works once, until it expires or an admin revokes it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=20, choices=Role.choices)
    email = models.EmailField(blank=True)
    token = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation to {self.project_id} as {self.role}"


class AuditEvent(models.Model):
    """Who did what to which LF, label, member or setting of a project, and when. Written by the services.

    A project's events go with it; the event of its deletion is kept without a project (project None,
    target_id the deleted project's id), so the site's log still says who deleted what and when.
    """

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "<target type>.<verb>", e.g. "lf.created", "member.role_changed".
    action = models.CharField(max_length=40)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    # What the target was called at the time (it may be renamed or deleted later).
    target_label = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        # The log page reads newest first by keyset (id below the last one shown).
        indexes = [models.Index(fields=["project", "-id"], name="audit_project_newest")]

    # The stored type is the model's name ("labelingfunction"); the log page says it in words.
    TARGET_WORDS = {
        "labelingfunction": "labeling function",
        "membership": "member",
        "importjob": "import",
        "invitation": "invitation",
        "sample": "sample",
        "project": "project",
    }

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} by {self.actor_id}"

    @property
    def target_words(self) -> str:
        """'labeling function “double”': what the event was about, as the log page shows it."""
        kind = self.TARGET_WORDS.get(self.target_type, self.target_type)
        if not self.target_label:
            return kind
        return f"{kind} “{self.target_label}”" if kind else self.target_label
