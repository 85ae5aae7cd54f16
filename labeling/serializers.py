"""What the API takes and gives for labeling functions, previews and label-model runs.

Inputs check shapes only; labeling.services decides what is valid and says why (ServiceError).
"""

from __future__ import annotations

from rest_framework import serializers

from projects.models import JobStatus

from .models import LabelingFunction, LabelModelRun, LFVersion

CONFIG_HELP = (
    'The kind\'s settings, an object. keyword: {"keywords": ["free", ...], "whole_word": true, '
    '"case_sensitive": false, "mode": "any" | "all"}. regex: {"pattern": "(?i)check.*out"} '
    '(RE2 syntax). field: {"field": "stars", "op": ..., and "value" (equals, not_equals, '
    'value/word_count_/char_count_ comparisons lt, le, gt, ge), "low" and "high" (…between), or '
    '"values": [...] (in, not_in); empty and not_empty take no value; "case_sensitive"}. code: '
    "{\"source\": \"def lf(x):\\n    return 'SPAM' if 'http' in x.text else None\"}. predictions: "
    '{"predictions": [{"id": "sample external id", "label": "SPAM", "score": 0.9}, ...], '
    '"min_score": 0.5}. service: {"url": "http://host/path", "batch_size": ..., "timeout": ..., '
    '"max_retries": ...} (the host must be in CHORUS_SERVICE_HOSTS).'
)


class LFConfigField(serializers.JSONField):
    """The kind's settings (CONFIG_HELP); labeling.kinds checks them and says what is wrong."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", CONFIG_HELP)
        super().__init__(**kwargs)


KIND_HELP = "keyword, regex, field, code, predictions or service"
LABEL_HELP = (
    "The class name the LF votes for; required for keyword, regex and field LFs, "
    "left out (null) for kinds that vote any class (code, predictions, service)."
)


class LFInput(serializers.Serializer):
    name = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(help_text=KIND_HELP)
    label = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, default=None, help_text=LABEL_HELP
    )
    config = LFConfigField()
    active = serializers.BooleanField(required=False, default=True)


class LFUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.CharField(required=False, help_text=KIND_HELP)
    label = serializers.CharField(required=False, allow_null=True, allow_blank=True, help_text=LABEL_HELP)
    config = LFConfigField(required=False)
    active = serializers.BooleanField(required=False)
    version = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text=(
            "The version number you last saw (`version.number`). When the LF has a newer version now, the "
            "answer is 409 naming it and nothing changes. Left out: not checked (last write wins)."
        ),
    )


class PreviewInput(serializers.Serializer):
    kind = serializers.CharField(help_text=KIND_HELP)
    label = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, default=None, help_text=LABEL_HELP
    )
    config = LFConfigField()
    lf = serializers.IntegerField(
        required=False, allow_null=True, help_text="The LF being edited, left out when counting conflicts."
    )


class LFVersionOutput(serializers.ModelSerializer):
    class Meta:
        model = LFVersion
        fields = [
            "id",
            "number",
            "status",
            "message",
            "coverage",
            "processed",
            "n_rows",
            "created_at",
            "applied_at",
        ]


class LFOutput(serializers.ModelSerializer):
    kind = serializers.CharField(source="current.kind", read_only=True)
    label = serializers.SerializerMethodField(
        help_text="The class name the LF votes for; null for kinds that vote any class."
    )
    config = serializers.JSONField(source="current.config", read_only=True, help_text=CONFIG_HELP)
    version = LFVersionOutput(source="current", read_only=True, help_text="The current version.")

    class Meta:
        model = LabelingFunction
        fields = ["id", "project", "name", "kind", "label", "config", "active", "version", "created_at"]

    def get_label(self, lf: LabelingFunction) -> str | None:
        return lf.project.label_name(lf.current.label) if lf.current else None


class PreviewExampleOutput(serializers.Serializer):
    row = serializers.IntegerField()
    id = serializers.CharField(help_text="The sample's external id.")
    text = serializers.CharField()
    spans = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    vote = serializers.CharField(allow_null=True, help_text="The class the LF votes on this sample.")
    gold = serializers.CharField(allow_null=True)


class PreviewOutput(serializers.Serializer):
    n = serializers.IntegerField(help_text="Samples the preview ran on.")
    total = serializers.IntegerField(help_text="Samples in the project.")
    sampled = serializers.BooleanField(help_text="True when the preview ran on a seeded sample (code LFs).")
    hits = serializers.IntegerField(help_text="Samples the LF votes on.")
    coverage = serializers.FloatField()
    correct = serializers.IntegerField()
    incorrect = serializers.IntegerField()
    empirical_accuracy = serializers.FloatField(
        allow_null=True, help_text="null when it votes on no gold sample."
    )
    conflicts = serializers.FloatField(
        help_text="Share of samples where another active LF votes differently."
    )
    conflict_count = serializers.IntegerField()
    label = serializers.CharField(allow_null=True)
    examples = PreviewExampleOutput(many=True)


class RunSummaryOutput(serializers.ModelSerializer):
    """A run without its per-LF table: the history list."""

    progress = serializers.SerializerMethodField(
        help_text="While the run waits or runs: how many of the active LFs have their votes, and which are pending."
    )
    n_lfs = serializers.SerializerMethodField()

    class Meta:
        model = LabelModelRun
        fields = [
            "id",
            "number",
            "project",
            "status",
            "stage",
            "message",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "n_samples",
            "n_lfs",
            "coverage",
            "metrics",
            "model",
            "summary",
        ]

    def get_n_lfs(self, run: LabelModelRun) -> int:
        return len(run.lf_versions)

    def get_progress(self, run: LabelModelRun) -> dict | None:
        if run.finished:
            return None
        from .services import current_versions

        versions = list(current_versions(run.project))
        pending = [v for v in versions if v.status != JobStatus.DONE]
        return {
            "lfs": len(versions),
            "lfs_with_votes": len(versions) - len(pending),
            "pending": [{"name": v.lf.name, "status": v.status, "processed": v.processed} for v in pending],
        }


class RunOutput(RunSummaryOutput):
    class Meta(RunSummaryOutput.Meta):
        fields = [
            *RunSummaryOutput.Meta.fields,
            "lf_versions",
            "lf_stats",
            "conflict_rows",
            "conflict_matrix",
            "overlap_matrix",
        ]


class LFConflictOutput(serializers.Serializer):
    message = serializers.CharField(help_text="What changed, by whom and when, in a sentence.")
    field = serializers.CharField(help_text='Always "version".')
    code = serializers.CharField(help_text='Always "lf_conflict".')
    version = serializers.IntegerField(help_text="The LF's current version number: send it to save over it.")
    current = LFOutput(help_text="The labeling function as it is stored now.")
