"""Import a file of samples (CSV, TSV, JSON, JSONL, Parquet; gzip or zip) into a project, synchronously and
all or nothing (the CLI of import)."""

import json

from django.core.management.base import BaseCommand, CommandError

from projects import importer, services
from projects.models import Project


class Command(BaseCommand):
    help = (
        "Import samples from a CSV, TSV, JSON, JSONL or Parquet file (optionally .gz or .zip) into a project; "
        "nothing is written unless the whole file is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "project_id", type=int, help="the project's id (shown in its address, /projects/<id>/)"
        )
        parser.add_argument(
            "file", help="a .csv, .tsv, .json, .jsonl or .parquet file, optionally .gz or .zip"
        )
        parser.add_argument("--text-field", required=True, help="the column or field that holds the text")
        parser.add_argument("--id-field", help="a column of unique ids (default: the sample's row number)")
        parser.add_argument(
            "--label-field", help="a column of gold labels: class names, or values in --label-map"
        )
        parser.add_argument(
            "--split-field", help="a column of train/dev/test (default: a seeded 80/10/10 split)"
        )
        parser.add_argument(
            "--label-map", help='JSON object of value → class name, e.g. \'{"0": "HAM", "1": "SPAM"}\''
        )
        parser.add_argument(
            "--format", choices=importer.FORMATS, help="the file's format when its name does not say"
        )
        parser.add_argument(
            "--encoding", default="utf-8", help="the text's encoding (default utf-8; e.g. latin-1)"
        )
        parser.add_argument(
            "--delimiter", help="CSV delimiter: comma, tab, semicolon or | (default: detected)"
        )
        parser.add_argument(
            "--on-duplicate",
            choices=importer.ON_DUPLICATE,
            default="fail",
            help="ids already in the project: fail (default), skip them, or update those samples",
        )
        parser.add_argument(
            "--fields-field", help="a JSON object field holding each sample's fields (Chorus's JSONL export)"
        )
        parser.add_argument(
            "--metadata-fields", help="comma-separated fields to keep with each sample (default: all others)"
        )

    def handle(
        self,
        *args,
        project_id,
        file,
        text_field,
        id_field,
        label_field,
        split_field,
        label_map,
        format,
        encoding,
        delimiter,
        on_duplicate,
        metadata_fields,
        fields_field,
        **options,
    ):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"there is no project {project_id}")
        try:
            mapping = json.loads(label_map) if label_map else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--label-map is not valid JSON ({exc.msg} at column {exc.colno})") from None
        choices = {
            "text_field": text_field,
            "id_field": id_field,
            "label_field": label_field,
            "split_field": split_field,
            "label_map": mapping,
            "format": format,
            "encoding": encoding,
            "delimiter": delimiter,
            "on_duplicate": on_duplicate,
            "metadata_fields": metadata_fields,
            "fields_field": fields_field,
        }
        try:
            result = services.import_file(project=project, path=file, options=choices)
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file") from None
        except IsADirectoryError:
            raise CommandError(f"{file}: is a directory, not a file") from None
        except services.ServiceError as exc:
            flag = f"--{exc.field.replace('_', '-')}: " if exc.field else ""
            raise CommandError(f"{flag}{exc.message}") from None
        except importer.ImportFailed as exc:
            for problem in exc.problems:
                where = f" [field {problem.field}]" if problem.field else ""
                self.stderr.write(f"{file}: {problem.message}{where}")
            raise CommandError(f"nothing was imported from {file}; fix the problems above") from None
        extra = "".join(
            f"; {n} duplicate{'' if n == 1 else 's'} {what}"
            for n, what in ((result.skipped, "skipped"), (result.updated, "updated"))
            if n
        )
        self.stdout.write(
            f"Imported {result.imported} samples ({result.labels_imported} hand labels) into {project.name}{extra}"
        )
