"""What the API takes and gives for projects, imports, samples and hand labels.

Input serializers only check shapes (types, presence); the rules live in projects.services, whose
ServiceError becomes the {"message", "field"} answer, so a page and the API say the same thing.
"""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Annotation, ImportJob, Project, Sample
from .permissions import role_of


class ProjectInput(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, trim_whitespace=False)
    labels = serializers.ListField(child=serializers.CharField(allow_blank=True), allow_empty=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    instructions = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateInput(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    instructions = serializers.CharField(required=False, allow_blank=True)
    labels = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="The full ordered list; existing classes keep their place, new ones go at the end.",
    )
    overlap = serializers.IntegerField(required=False, help_text="How many annotators label each sample.")
    queue_order = serializers.CharField(
        required=False, help_text="row, random, least_confident, conflicts or uncovered."
    )
    blind = serializers.BooleanField(
        required=False, help_text="Annotators see nothing of others' labels or predictions."
    )
    skip_reasons = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, help_text="Reasons offered for a skip."
    )
    check_every = serializers.IntegerField(
        required=False,
        help_text="About one sample in this many given to an annotator is a gold check (0: none).",
    )
    annotators_as_sources = serializers.BooleanField(
        required=False, help_text="Each annotator's labels are one source of the label matrix at refit."
    )


class ClassRenameInput(serializers.Serializer):
    name = serializers.CharField(
        allow_blank=True, help_text="The class's new name (at most 100 characters, unlike the others)."
    )


class ClassRenamedOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="The class's index: every label of it keeps pointing to it.")
    name = serializers.CharField()
    old_name = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField(), help_text="The project's classes now.")
    notes = serializers.ListField(
        child=serializers.CharField(), help_text="LFs that may still answer the old name, and what to do."
    )


class ProjectDeletedOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The deleted project's id; its URLs answer 404 from now on.")
    name = serializers.CharField()
    deleted = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='How many of each kind of row went with it: {"samples": 1200, "hand labels": 300, ...}.',
    )
    message = serializers.CharField(help_text="The same, in a sentence.")


class ErrorOutput(serializers.Serializer):
    message = serializers.CharField(help_text="What is wrong, in a sentence.")
    field = serializers.CharField(required=False, help_text="The input the problem is in.")


class AlreadyImportedOutput(ErrorOutput):
    code = serializers.CharField(help_text='"already_imported"')
    earlier_import = serializers.IntegerField(help_text="The id of the earlier import of the same content.")


# Settings that say how annotators are checked: not for annotators' eyes (checks are unannounced).
QUALITY_SETTINGS = ("check_every", "annotators_as_sources")


class ProjectOutput(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="The caller's role in the project.")

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "instructions",
            "labels",
            "overlap",
            "queue_order",
            "blind",
            "skip_reasons",
            "check_every",
            "annotators_as_sources",
            "role",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, project: Project) -> dict:
        data = super().to_representation(project)
        if data.get("role") not in ("admin", "developer", "reviewer", "viewer"):
            for name in QUALITY_SETTINGS:
                data.pop(name, None)
        return data

    def get_role(self, project: Project) -> str | None:
        if hasattr(project, "my_role"):
            return project.my_role
        return role_of(self.context["request"].user, project)


@extend_schema_field(OpenApiTypes.STR)
class LabelMapField(serializers.Field):
    """label_map arrives as a JSON string in a multipart form (or as an object in a JSON body)."""

    default_error_messages = {
        "invalid": 'label_map must be a JSON object of value → class name, e.g. {"0": "HAM", "1": "SPAM"}'
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not data.strip():
                return {}
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise serializers.ValidationError(
                    f"label_map is not valid JSON ({exc.msg} at column {exc.colno})"
                ) from None
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class ImportInput(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="A CSV, TSV, JSON (array), JSONL or Parquet file, optionally gzip- or zip-compressed.",
    )
    text_field = serializers.CharField(allow_blank=True)
    id_field = serializers.CharField(required=False, allow_blank=True, default="")
    label_field = serializers.CharField(required=False, allow_blank=True, default="")
    split_field = serializers.CharField(required=False, allow_blank=True, default="")
    label_map = LabelMapField(
        required=False,
        default=dict,
        help_text='A JSON object of file value → class name, e.g. {"0": "HAM", "1": "SPAM"}.',
    )
    format = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="csv, tsv, json, jsonl or parquet; guessed from the file name if empty.",
    )
    encoding = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The text's encoding (default utf-8)."
    )
    delimiter = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text="CSV/TSV delimiter: comma, tab, semicolon or |; detected from the header if empty.",
    )
    on_duplicate = serializers.CharField(
        required=False,
        allow_blank=True,
        default="fail",
        help_text="Ids already in the project: fail (default), skip, or update those samples. skip and "
        "update need an id_field (duplicates are found by id) and are refused without one.",
    )
    import_again = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Without an id_field, a file whose content was imported into the project before is refused "
        "(409); true imports its rows again as new samples.",
    )
    metadata_fields = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Comma-separated fields kept with each sample; empty keeps every other field.",
    )

    fields_field = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="A field holding an object of each sample's fields (as Chorus's JSONL export has them).",
    )

    def validate_metadata_fields(self, value: str):
        return [part.strip() for part in value.split(",") if part.strip()] or None


class ImportJobOutput(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    report = serializers.CharField(
        read_only=True, help_text='e.g. "Imported 990 samples; 10 duplicates skipped"'
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "filename",
            "options",
            "status",
            "processed",
            "total",
            "percent",
            "imported",
            "labels_imported",
            "skipped",
            "updated",
            "written",
            "report",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
        ]


class SampleOutput(serializers.ModelSerializer):
    gold = serializers.SerializerMethodField(help_text="The agreed hand label's class name, or null.")

    class Meta:
        model = Sample
        fields = ["id", "row", "external_id", "text", "fields", "split", "gold"]

    def get_gold(self, sample: Sample) -> str | None:
        # The view passes the project, so a page of samples does not load it once per row.
        return self.context["project"].label_name(sample.gold_label)


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class SampleRefField(serializers.Field):
    """A sample named by its id (a JSON number) or by its external id (a JSON string)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError("give the sample's id (a number) or its external id (a string)")
        if isinstance(data, str) and not data.strip():
            raise serializers.ValidationError("give the sample's id (a number) or its external id (a string)")
        return data

    def to_representation(self, value):
        return value


class AnnotationInput(serializers.Serializer):
    sample = SampleRefField(help_text="The sample's id (a number) or its external id (a string).")
    label = serializers.CharField(
        allow_null=True, help_text="A class name of the project; null records a skip."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Why, for a skip (optional)."
    )
    version = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=64,
        help_text=(
            'The `version` of my label on this sample as this client last saw it (null or "": it had none). '
            "If my stored label is no longer that one (changed in another tab or by another script), nothing "
            "is saved and the answer is 409 with the stored label in `current`; send again with that "
            "`version` to replace it. Leave the field out to save whatever is stored (last write wins), as "
            "before versions existed."
        ),
    )


class AnnotationOutput(serializers.ModelSerializer):
    external_id = serializers.CharField(source="sample.external_id", read_only=True)
    label = serializers.SerializerMethodField(help_text="The class name, or null for a skip.")
    annotator = serializers.CharField(
        source="annotator.username", read_only=True, default=None, help_text="Who gave the label."
    )
    version = serializers.SerializerMethodField(
        help_text="Changes with every change of this label: send it back with a change (see the input's version)."
    )

    class Meta:
        model = Annotation
        fields = [
            "id",
            "sample",
            "external_id",
            "label",
            "reason",
            "annotator",
            "version",
            "created_at",
            "updated_at",
        ]

    def get_label(self, annotation: Annotation) -> str | None:
        return annotation.project.label_name(annotation.label)

    def get_version(self, annotation: Annotation) -> str:
        from .services import label_version

        return label_version(annotation)


class LabelConflictOutput(serializers.Serializer):
    message = serializers.CharField(help_text="What changed, by whom and when, in a sentence.")
    field = serializers.CharField(help_text='Always "version".')
    code = serializers.CharField(help_text='Always "label_conflict".')
    current = AnnotationOutput(
        allow_null=True,
        help_text="My label as it is stored now (null: it was removed); its version replaces it.",
    )


class QueueSampleOutput(serializers.ModelSerializer):
    """A sample as the queue hands it to an annotator: what they label, nothing of gold or others' labels."""

    others = serializers.SerializerMethodField(
        help_text="Others' labels by class; only in projects that are not blind (else null)."
    )
    predicted = serializers.SerializerMethodField(
        help_text="The label model's class; only in projects that are not blind (else null)."
    )

    class Meta:
        model = Sample
        fields = ["id", "row", "external_id", "text", "fields", "claimed_until", "others", "predicted"]

    def get_others(self, sample: Sample) -> list[dict] | None:
        return self.context.get("others")

    def get_predicted(self, sample: Sample) -> str | None:
        return self.context.get("predicted")
