"""Importing a file of samples: check every record in a first streaming pass, then write in a second pass
inside one transaction, all or nothing.

Nothing holds the file's rows in memory: the first pass keeps only the ids it has seen (to find
duplicates), the second re-reads the file and streams samples to the database (COPY on PostgreSQL).
Every problem is an ImportProblem naming the line (or row) and field; nothing is written unless the whole
file is valid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from . import fast_import, formats
from .formats import FORMATS, ImportFailed, ImportProblem, decoded_lines, guess_format  # noqa: F401
from .models import Annotation, Project, Sample, Split

log = logging.getLogger(__name__)

ON_DUPLICATE = ("fail", "skip", "update")
SPLIT_ALIASES = {
    "train": Split.TRAIN,
    "dev": Split.DEV,
    "valid": Split.DEV,
    "validation": Split.DEV,
    "val": Split.DEV,
    "test": Split.TEST,
}
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
# Stop collecting after this many problems: the first ones are what a person fixes first.
MAX_PROBLEMS = 20
# Samples per INSERT (SQLite) and per update batch; PostgreSQL streams them all through one COPY.
BATCH = 2000
# Ids looked up per query when checking which are already in the project.
ID_CHUNK = 10_000
# After an import of at least this many new samples, PostgreSQL's statistics of the table are refreshed, so
# the next queries over the project are planned for its real size (autovacuum would get there later).
ANALYZE_AFTER_ROWS = 50_000
# Progress is written at most this often (seconds): often enough for a bar, rare enough to cost nothing.
PROGRESS_EVERY = 0.5
# The pyarrow fast path for CSV and TSV on PostgreSQL (fast_import); tests turn it off to compare.
FAST = True


@dataclass
class ImportOptions:
    text_field: str
    id_field: str | None = None
    label_field: str | None = None
    split_field: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    encoding: str = "utf-8"
    delimiter: str | None = None
    on_duplicate: str = "fail"
    # Which other fields to keep with each sample; None keeps them all.
    metadata_fields: list[str] | None = None
    # A field holding an object of the sample's fields (as Chorus exports them), instead of other columns.
    fields_field: str | None = None
    ratios: tuple[float, float, float] = DEFAULT_RATIOS
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> ImportOptions:
        ratios = data.get("ratios") or DEFAULT_RATIOS
        metadata = data.get("metadata_fields")
        return cls(
            text_field=data["text_field"],
            id_field=data.get("id_field") or None,
            label_field=data.get("label_field") or None,
            split_field=data.get("split_field") or None,
            label_map={str(k): str(v) for k, v in (data.get("label_map") or {}).items()},
            format=data.get("format") or None,
            encoding=data.get("encoding") or "utf-8",
            delimiter=data.get("delimiter") or None,
            on_duplicate=data.get("on_duplicate") or "fail",
            metadata_fields=list(metadata) if metadata is not None else None,
            fields_field=data.get("fields_field") or None,
            ratios=tuple(float(r) for r in ratios),
            seed=int(data.get("seed") or 0),
        )

    @property
    def wanted(self) -> list[str]:
        named = [self.text_field, self.id_field, self.label_field, self.split_field, self.fields_field]
        return [f for f in named if f] + [f for f in self.metadata_fields or [] if f not in named]


@dataclass
class ParsedRow:
    line: int
    external_id: str | None
    text: str
    fields: dict
    label: int | None
    split: str | None


@dataclass
class Plan:
    """What the first pass learnt: how many rows, and each id's line (None without an id field)."""

    rows: int
    lines_of: dict[str, int] | None
    labels: int
    # Without an id field: each row's line, 4 bytes a row, to name the line of a taken row-number id.
    lines: array | None = None
    # Checked by the fast path (which knows no lines; the slow pass is re-run if a message needs them).
    fast: fast_import.FastPlan | None = None


@dataclass
class ImportResult:
    imported: int
    labels_imported: int
    first_row: int
    skipped: int = 0
    updated: int = 0
    # Samples whose text, fields or label an update changed (their pks), for the caller's signals.
    updated_ids: list[int] = field(default_factory=list)


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return json.dumps(value, ensure_ascii=False)


def _unstorable(value) -> str | None:
    """Why a value cannot be stored as text (PostgreSQL refuses NUL; JSON escapes can make lone surrogates)."""
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL character (\\u0000)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (a \\ud800-\\udfff escape without its pair)"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            reason = _unstorable(key) or _unstorable(item)
            if reason:
                return reason
    elif isinstance(value, list):
        for item in value:
            reason = _unstorable(item)
            if reason:
                return reason
    return None


class _Reader:
    """One pass over the file: (line, record) pairs, and how far into the stored file the pass has got."""

    def __init__(self, path, filename: str, options: ImportOptions):
        self.path, self.filename, self.options = path, filename, options
        self.fmt = guess_format(filename, options.format)
        self.unit = formats.unit(self.fmt)

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        o = self.options
        if self.fmt == "zip":
            # With no format chosen, the member of a zip names it (data.zip holding data.jsonl).
            self.fmt = formats.member_format(self.path, self.filename, None)
            self.unit = formats.unit(self.fmt)
        fmt = self.fmt
        with formats.open_plain(self.path, self.filename) as opened:
            self.opened = opened
            records = formats.records(opened, fmt, o.wanted, o.encoding, o.delimiter)
            yield from self._checked_fields(records)

    def fraction(self) -> float:
        return self.opened.fraction() if hasattr(self, "opened") else 0.0

    def _checked_fields(self, records):
        """JSON records may lack a field; a chosen field that no record has is a mistake in the choice."""
        if self.fmt not in ("json", "jsonl"):
            yield from records
            return
        o = self.options
        required = [f for f in (o.text_field, o.id_field) if f]
        optional = [f for f in o.wanted if f not in required]
        unseen = set(optional)
        for line, record in records:
            missing = [name for name in required if name not in record]
            if missing:
                raise ImportFailed(
                    [
                        ImportProblem(f"line {line}: the field {name!r} is missing", line=line, field=name)
                        for name in missing
                    ]
                )
            if unseen:
                unseen.difference_update(record)
            yield line, record
        if unseen:
            raise ImportFailed(
                [
                    ImportProblem(f"no record has the field {name!r}", field=name)
                    for name in optional
                    if name in unseen
                ]
            )


class _Converter:
    """Turns one record into a ParsedRow, or into the problems that stop it."""

    def __init__(self, project: Project, options: ImportOptions, unit: str):
        self.project, self.o, self.unit = project, options, unit
        self.max_chars = settings.CHORUS_MAX_TEXT_CHARS
        self.max_id = Sample._meta.get_field("external_id").max_length
        self.classes = ", ".join(project.labels)
        self.skip = {options.text_field, options.label_field}
        self.keep = set(options.metadata_fields) if options.metadata_fields is not None else None

    def __call__(self, line: int, record: dict, problems: list[ImportProblem]) -> ParsedRow:
        o = self.o

        def problem(message: str, name: str | None = None) -> None:
            problems.append(ImportProblem(f"{self.unit} {line}: {message}", line=line, field=name))

        text = _as_text(record.get(o.text_field))
        if text is None or not text.strip():
            problem(f"the text field {o.text_field!r} is empty", o.text_field)
        elif len(text) > self.max_chars:
            problem(
                f"the text has {len(text)} characters, more than the limit of {self.max_chars}", o.text_field
            )
        external_id = None
        if o.id_field:
            external_id = _as_text(record.get(o.id_field))
            if not external_id or not external_id.strip():
                problem(f"the id field {o.id_field!r} is empty", o.id_field)
                external_id = None
            elif len(external_id) > self.max_id:
                problem(f"the id has {len(external_id)} characters, more than {self.max_id}", o.id_field)
                external_id = None
        label = None
        if o.label_field:
            raw = _as_text(record.get(o.label_field))
            if raw is not None and raw.strip() != "":
                name = o.label_map.get(raw, o.label_map.get(raw.strip(), raw.strip()))
                label = self.project.label_index(name)
                if label is None:
                    hint = "add it to label_map" if o.label_map else "map it to one with label_map"
                    problem(
                        f"label {raw!r} is not one of the project's classes ({self.classes}); {hint}",
                        o.label_field,
                    )
        split = None
        if o.split_field:
            raw = (_as_text(record.get(o.split_field)) or "").strip().lower()
            if raw:
                split = SPLIT_ALIASES.get(raw)
                if split is None:
                    problem(f"split {raw!r} is not train, dev or test", o.split_field)
        if o.fields_field:
            fields = record.get(o.fields_field)
            if isinstance(fields, str) and fields.strip():
                try:
                    fields = json.loads(fields)
                except json.JSONDecodeError:
                    fields = None
            if fields in (None, ""):
                fields = {}
            if not isinstance(fields, dict):
                problem(f"the fields field {o.fields_field!r} must hold a JSON object", o.fields_field)
                fields = {}
        elif self.keep is None:
            fields = {k: v for k, v in record.items() if k not in self.skip}
        else:
            fields = {k: v for k, v in record.items() if k in self.keep and k not in self.skip}
        for name, value in ((o.text_field, text), *fields.items()):
            reason = _unstorable(name) or _unstorable(value)
            if reason:
                problem(f"the field {name!r} {reason}, which cannot be stored", name)
                break
        return ParsedRow(line, external_id, text or "", fields, label, split)


def check(
    path, filename: str, options: ImportOptions, project: Project, on_progress: Callable | None = None
) -> Plan:
    """The first pass: read and validate every record; raise ImportFailed with the problems (up to a limit).

    on_progress(rows_read, fraction_of_the_file_read) is called every PROGRESS_EVERY seconds.
    """
    if FAST:
        fmt = formats.member_format(path, filename, options.format)
        if fast_import.applies(fmt, options):
            try:
                fast = fast_import.check(path, filename, options, project, fmt, _every(on_progress))
                return Plan(rows=fast.rows, lines_of=None, labels=fast.labels, fast=fast)
            except fast_import.NotFast as exc:
                # Not the user's business: the precise pass below finds the problem and names it.
                log.info("import: the slow path reads %s (%s)", filename, exc)
    return _check_slowly(path, filename, options, project, on_progress)


def _every(report: Callable | None) -> Callable | None:
    if report is None:
        return None
    last = time.monotonic()

    def throttled(*args) -> None:
        nonlocal last
        if time.monotonic() - last > PROGRESS_EVERY:
            last = time.monotonic()
            report(*args)

    return throttled


def _check_slowly(path, filename: str, options: ImportOptions, project: Project, on_progress=None) -> Plan:
    reader = _Reader(path, filename, options)
    convert = None
    problems: list[ImportProblem] = []
    lines_of: dict[str, int] | None = {} if options.id_field else None
    lines = None if options.id_field else array("L")
    rows = labels = 0
    last = time.monotonic()
    line = 0
    for line, record in reader:
        if convert is None:
            convert = _Converter(project, options, reader.unit)
        row = convert(line, record, problems)
        if lines_of is not None and row.external_id is not None:
            first = lines_of.setdefault(row.external_id, line)
            if first != line:
                problems.append(
                    ImportProblem(
                        f"{reader.unit} {line}: duplicate id {row.external_id!r} (first seen on "
                        f"{reader.unit} {first})",
                        line=line,
                        field=options.id_field,
                    )
                )
        if len(problems) >= MAX_PROBLEMS:
            problems.append(
                ImportProblem(f"stopped reading at {reader.unit} {line} after {len(problems)} problems")
            )
            break
        rows += 1
        labels += row.label is not None
        if lines is not None:
            lines.append(line)
        if on_progress and time.monotonic() - last > PROGRESS_EVERY:
            last = time.monotonic()
            on_progress(rows, reader.fraction())
    if problems:
        raise ImportFailed(problems)
    if not rows:
        if reader.fmt in ("csv", "tsv"):
            raise ImportFailed([ImportProblem("line 1: the file has a header but no rows", line=1)])
        raise ImportFailed([ImportProblem("the file has no records")])
    return Plan(rows=rows, lines_of=lines_of, labels=labels, lines=lines)


def seeded_split(key: str, seed: int, ratios: tuple[float, float, float]) -> str:
    """A split drawn from the sample's id and the seed: stable whatever order the rows come in."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64
    total = sum(ratios)
    if u < ratios[0] / total:
        return Split.TRAIN
    if u < (ratios[0] + ratios[1]) / total:
        return Split.DEV
    return Split.TEST


def _taken(project: Project, ids) -> set[str]:
    """Which of these ids the project already has (in chunks, so any file size is covered)."""
    ids = list(ids)
    taken: set[str] = set()
    q = connection.ops.quote_name
    for begin in range(0, len(ids), ID_CHUNK):
        chunk = ids[begin : begin + ID_CHUNK]
        if connection.vendor == "postgresql":
            # A join on unnest probes the (project, external_id) unique index once per id; an IN list let
            # the planner walk the whole project's samples when its statistics were stale.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT s.{q('external_id')} FROM unnest(%s::text[]) AS i(id) "
                    f"JOIN {q(Sample._meta.db_table)} s "
                    f"ON s.{q('project_id')} = %s AND s.{q('external_id')} = i.id",
                    [chunk, project.pk],
                )
                taken.update(external_id for (external_id,) in cursor.fetchall())
            continue
        taken.update(
            Sample.objects.filter(project=project, external_id__in=chunk).values_list(
                "external_id", flat=True
            )
        )
    return taken


def _clash_problems(
    taken: set[str], line_of: Callable, id_field: str | None, unit: str
) -> list[ImportProblem]:
    if id_field:
        why = "is already in the project (choose on_duplicate skip or update to import the file anyway)"
    else:
        # Without an id field a sample's id is its row number, which an earlier import may have used as an id.
        why = "(its row number, as no id field was chosen) is already in the project; choose an id field"
    ordered = sorted(taken, key=line_of)
    problems = [
        ImportProblem(f"{unit} {line_of(t)}: id {t!r} {why}", line=line_of(t), field=id_field)
        for t in ordered[:MAX_PROBLEMS]
    ]
    if len(ordered) > MAX_PROBLEMS:
        problems.append(
            ImportProblem(
                f"and {len(ordered) - MAX_PROBLEMS} more ids of this file are already in the project"
            )
        )
    return problems


class _SampleWriter:
    """New samples, streamed: one COPY on PostgreSQL, batched INSERTs elsewhere."""

    def __init__(self, project: Project, expected: int):
        self.project = project
        self.now = timezone.now()
        self.copy = None
        self.batch: list[Sample] = []
        # PostgreSQL: sample ids are drawn from their sequence up front, so the imported labels can be
        # COPYed too (no INSERT ... SELECT over the project's samples, whose plan depends on fresh statistics).
        self.labeled_ids, self.labels = array("q"), array("h")
        if connection.vendor == "postgresql":
            self._reserve_ids(expected)
            self._open_copy()

    def _reserve_ids(self, n: int) -> None:
        table, pk = Sample._meta.db_table, Sample._meta.pk.column
        self.ids = array("q")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, n]
            )
            while chunk := cursor.fetchmany(ID_CHUNK):
                self.ids.extend(i for (i,) in chunk)
        self.used = 0

    def _open_copy(self) -> None:
        given = ("id", "project", "row", "external_id", "text", "fields", "split", "gold_label", "created_at")
        columns = list(Sample._meta.concrete_fields)
        names = [f.name for f in columns]
        # Columns the import does not set take their model default, as bulk_create would give them; the
        # row is a copy of this template with the given slots filled (no per-row lookups on the hot path).
        template = []
        for f in columns:
            value = None if f.name in given else f.get_default()
            template.append(json.dumps(value) if isinstance(value, dict | list) else value)
        template[names.index("project")] = self.project.pk
        template[names.index("created_at")] = self.now
        self.template = template
        self.slots = [names.index(name) for name in given[:-1] if name != "project"]
        quoted = ", ".join(connection.ops.quote_name(f.column) for f in columns)
        table = connection.ops.quote_name(Sample._meta.db_table)
        self.cursor = connection.cursor()
        self.copy_cm = self.cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN")
        self.copy = self.copy_cm.__enter__()
        self.dumps = json.JSONEncoder(ensure_ascii=False).encode

    def add(self, row: int, external_id: str, r: ParsedRow, split: str) -> None:
        if self.copy is not None:
            values = self.template.copy()
            i_pk, i_row, i_id, i_text, i_fields, i_split, i_label = self.slots
            pk = self.ids[self.used]
            self.used += 1
            values[i_pk] = pk
            if r.label is not None:
                self.labeled_ids.append(pk)
                self.labels.append(r.label)
            values[i_row] = row
            values[i_id] = external_id
            values[i_text] = r.text
            values[i_fields] = self.dumps(r.fields)
            values[i_split] = split
            values[i_label] = r.label
            self.copy.write_row(values)
            return
        self.batch.append(
            Sample(
                project=self.project,
                row=row,
                external_id=external_id,
                text=r.text,
                fields=r.fields,
                split=split,
                gold_label=r.label,
            )
        )
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            Sample.objects.bulk_create(self.batch)
            self.batch = []

    def close(self, failed: bool = False) -> None:
        if self.copy is not None:
            self.copy_cm.__exit__(*((ImportFailed, ImportFailed([]), None) if failed else (None, None, None)))
            self.cursor.close()
            self.copy = None
        elif not failed:
            self.flush()

    def write_labels(self, first_row: int) -> int:
        """Hand labels (source import) for the new samples that came with one."""
        if connection.vendor != "postgresql":
            return _imported_labels(self.project, first_row)
        columns = [f for f in Annotation._meta.concrete_fields if not f.primary_key]
        names = [f.name for f in columns]
        template = [f.get_default() for f in columns]
        fixed = {"project": self.project.pk, "source": Annotation.Source.IMPORT, "annotator": None}
        fixed.update(created_at=self.now, updated_at=self.now, reason="")
        for name, value in fixed.items():
            template[names.index(name)] = value
        i_sample, i_label = names.index("sample"), names.index("label")
        quoted = ", ".join(connection.ops.quote_name(f.column) for f in columns)
        table = connection.ops.quote_name(Annotation._meta.db_table)
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
            for pk, label in zip(self.labeled_ids, self.labels, strict=True):
                values = template.copy()
                values[i_sample] = pk
                values[i_label] = label
                copy.write_row(values)
        return len(self.labeled_ids)


def _imported_labels(project: Project, first_row: int) -> int:
    """Hand labels (source import) for the new samples that came with one, in one statement."""
    a, s = Annotation._meta, Sample._meta
    q = connection.ops.quote_name
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {q(a.db_table)} ({q('project_id')}, {q('sample_id')}, {q('source')}, {q('label')}, "
            f"{q('reason')}, {q('created_at')}, {q('updated_at')}) "
            f"SELECT {q('project_id')}, {q('id')}, %s, {q('gold_label')}, '', %s, %s FROM {q(s.db_table)} "
            f"WHERE {q('project_id')} = %s AND {q('row')} >= %s AND {q('gold_label')} IS NOT NULL",
            [Annotation.Source.IMPORT, now, now, project.pk, first_row],
        )
        return cursor.rowcount


def _apply_updates(project: Project, batch: list[ParsedRow], options: ImportOptions) -> list[int]:
    """Change existing samples to what the file says; their hand labels by annotators stay as they are."""
    # services imports this module; the edge back is only needed here, for the gold label rule.
    from .services import _refresh_gold

    by_id = {r.external_id: r for r in batch}
    samples = list(Sample.objects.filter(project=project, external_id__in=list(by_id)))
    for sample in samples:
        r = by_id[sample.external_id]
        sample.text = r.text
        sample.fields = r.fields
        if r.split:
            sample.split = r.split
    Sample.objects.bulk_update(samples, ["text", "fields", "split"])
    if options.label_field:
        imported = {
            a.sample_id: a
            for a in Annotation.objects.filter(sample__in=samples, source=Annotation.Source.IMPORT)
        }
        for sample in samples:
            label = by_id[sample.external_id].label
            old = imported.get(sample.pk)
            if label is None and old is not None:
                old.delete()
            elif label is not None and old is None:
                Annotation.objects.create(
                    project=project, sample=sample, source=Annotation.Source.IMPORT, label=label
                )
            elif label is not None and old.label != label:
                Annotation.objects.filter(pk=old.pk).update(label=label, updated_at=timezone.now())
            else:
                continue
            _refresh_gold(sample)
    return [s.pk for s in samples]


class _WriteProgress:
    """Progress during the write, from a second connection: the import's own transaction is not committed
    yet, so updates made on it would show nobody anything. PostgreSQL only (SQLite has one writer)."""

    def __init__(self, report: Callable | None):
        self.report = report if connection.vendor == "postgresql" else None
        self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        if self.report and time.monotonic() - self.last > PROGRESS_EVERY:
            self.last = time.monotonic()
            self.report(done)


def write(
    project: Project,
    path,
    filename: str,
    options: ImportOptions,
    plan: Plan,
    on_progress: Callable | None = None,
) -> ImportResult:
    """The second pass: write the checked file as samples (and imported labels) in one transaction.

    on_progress(rows_done) is called from inside the transaction; it must write on its own connection.
    """
    progress = _WriteProgress(on_progress)
    with transaction.atomic():
        # Lock the project so two imports never hand out the same row indexes (nor the same ids).
        Project.objects.select_for_update().filter(pk=project.pk).first()
        last = Sample.objects.filter(project=project).aggregate(m=Max("row"))["m"]
        start = 0 if last is None else last + 1  # not `last or -1`: a project whose only sample is row 0
        unit = formats.unit(formats.member_format(path, filename, options.format))
        taken: set[str] = set()
        if last is not None and plan.fast is not None:
            ids = plan.fast.ids.to_pylist() if plan.fast.ids is not None else None
            taken = _taken(project, ids if ids is not None else (str(start + i) for i in range(plan.rows)))
            if taken and (options.on_duplicate == "fail" or ids is None):
                # The message names lines, which only the slow pass knows: it is run for them.
                plan = _check_slowly(path, filename, options, project)
        if last is None or plan.fast is not None:
            pass
        elif plan.lines_of is not None:
            taken = _taken(project, plan.lines_of)
            if taken and options.on_duplicate == "fail":
                raise ImportFailed(_clash_problems(taken, plan.lines_of.__getitem__, options.id_field, unit))
        else:
            # Without an id field the ids are the new row numbers: taken only if an earlier file used digits.
            taken = _taken(project, (str(start + i) for i in range(plan.rows)))
            if taken:
                raise ImportFailed(_clash_problems(taken, lambda t: plan.lines[int(t) - start], None, unit))
        if plan.fast is not None:
            result = _write_fast(project, path, filename, options, plan, start, taken, progress)
        else:
            result = _write_slowly(project, path, filename, options, plan, start, taken, progress)
    if result.imported >= ANALYZE_AFTER_ROWS and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(Sample._meta.db_table)}")
    return result


def _write_fast(project, path, filename, options, plan: Plan, start: int, taken: set[str], progress):
    try:
        written = fast_import.write(
            project, path, filename, options, plan.fast, start, taken, timezone.now(), progress
        )
    except fast_import.NotFast:
        # The check passed a moment ago: the file is not what it was.
        raise ImportFailed(
            [ImportProblem("the file changed while it was being imported; import it again")]
        ) from None
    updated_ids: list[int] = []
    if written.duplicates:
        convert = _Converter(project, options, "line")
        updates: list[ParsedRow] = []
        for row, record in written.duplicates:
            updates.append(convert(row, record, []))
            if len(updates) >= BATCH:
                updated_ids += _apply_updates(project, updates, options)
                updates = []
        if updates:
            updated_ids += _apply_updates(project, updates, options)
    return ImportResult(
        imported=written.new,
        labels_imported=written.labels,
        first_row=start,
        skipped=written.skipped,
        updated=len(updated_ids),
        updated_ids=updated_ids,
    )


def _write_slowly(project, path, filename, options, plan: Plan, start: int, taken: set[str], progress):
    reader = _Reader(path, filename, options)
    convert = None
    writer = _SampleWriter(project, plan.rows - len(taken))
    updates: list[ParsedRow] = []
    updated_ids: list[int] = []
    new = skipped = done = 0
    try:
        for line, record in reader:
            if convert is None:
                convert = _Converter(project, options, reader.unit)
            problems: list[ImportProblem] = []
            r = convert(line, record, problems)
            if problems:  # the file changed between the passes
                raise ImportFailed(problems)
            done += 1
            if r.external_id is not None and r.external_id in taken:
                if options.on_duplicate == "skip":
                    skipped += 1
                else:
                    updates.append(r)
                    if len(updates) >= BATCH:
                        updated_ids += _apply_updates(project, updates, options)
                        updates = []
                continue
            row = start + new
            external_id = r.external_id if r.external_id is not None else str(row)
            writer.add(
                row, external_id, r, r.split or seeded_split(external_id, options.seed, options.ratios)
            )
            new += 1
            progress(done)
    except BaseException:
        writer.close(failed=True)
        raise
    writer.close()
    if updates:
        updated_ids += _apply_updates(project, updates, options)
    if done != plan.rows:
        raise ImportFailed([ImportProblem("the file changed while it was being imported; import it again")])
    labels = writer.write_labels(start) if new and options.label_field else 0
    return ImportResult(
        imported=new,
        labels_imported=labels,
        first_row=start,
        skipped=skipped,
        updated=len(updated_ids),
        updated_ids=updated_ids,
    )


def import_path(
    project: Project,
    path,
    filename: str,
    options: ImportOptions,
    on_check: Callable | None = None,
    on_write: Callable | None = None,
) -> ImportResult:
    """Check the whole file, then write it; all or nothing."""
    plan = check(path, filename, options, project, on_progress=on_check)
    return write(project, path, filename, options, plan, on_progress=on_write)
