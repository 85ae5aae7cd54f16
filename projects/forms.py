"""Forms of the projects pages: they read the request; the services decide what is valid."""

from __future__ import annotations

from django import forms

from .models import Role


class ProjectForm(forms.Form):
    # Not required here: services.create_project says what is missing, in the domain's words.
    name = forms.CharField(required=False)
    description = forms.CharField(required=False, widget=forms.Textarea)
    labels = forms.CharField(
        label="Label schema",
        required=False,
        widget=forms.Textarea,
        help_text="Class names in order, one per line or separated by commas. Each gets a key: 1, 2, 3 …",
    )
    instructions = forms.CharField(
        label="Annotator instructions",
        required=False,
        widget=forms.Textarea,
        help_text="Shown beside every sample.",
    )


class UploadForm(forms.Form):
    # The upload service checks presence and emptiness with its own messages; Django's would repeat them.
    file = forms.FileField(
        required=False,
        allow_empty_file=True,
        help_text="CSV/TSV with a header row, a JSON array, JSONL or Parquet; .gz or .zip too.",
    )
    encoding = forms.CharField(required=False)


class MappingForm(forms.Form):
    """Step 2 of an import: which column is what. Choices come from the staged file's columns."""

    text_field = forms.ChoiceField(label="Text field", required=False)
    id_field = forms.ChoiceField(label="Id field", required=False)
    label_field = forms.ChoiceField(label="Label field", required=False)
    split_field = forms.ChoiceField(label="Split field", required=False)
    delimiter = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Detect from the header"),
            (",", "Comma"),
            ("\t", "Tab"),
            (";", "Semicolon"),
            ("|", "|"),
        ],
    )
    on_duplicate = forms.ChoiceField(
        required=False,
        choices=[
            ("fail", "Stop the import and list them"),
            ("skip", "Skip them (keep the samples as they are)"),
            ("update", "Update those samples"),
        ],
        initial="fail",
    )
    metadata_fields = forms.MultipleChoiceField(required=False)

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        named = [(c, c) for c in columns]
        self.fields["text_field"].choices = [("", "Choose the text column")] + named
        for name in ("id_field", "label_field", "split_field"):
            self.fields[name].choices = [("", "None")] + named
        self.fields["metadata_fields"].choices = named
        # Every other column is kept unless unticked; an unbound form shows them all ticked.
        self.initial.setdefault("metadata_fields", list(columns))


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
