"""Reading an uploaded file of samples: decode, parse, validate every row, then write all or nothing.

Every problem is reported as an ImportProblem naming the line and field, and nothing is written unless the
whole file is valid.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from .models import Annotation, Project, Sample, Split

FORMATS = ("csv", "jsonl")
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
BATCH = 2000


@dataclass
class ImportProblem:
    message: str
    line: int | None = None
    field: str | None = None

    def as_dict(self) -> dict:
        out: dict = {"message": self.message}
        if self.line is not None:
            out["line"] = self.line
        if self.field is not None:
            out["field"] = self.field
        return out


class ImportFailed(Exception):
    def __init__(self, problems: list[ImportProblem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass
class ImportOptions:
    text_field: str
    id_field: str | None = None
    label_field: str | None = None
    split_field: str | None = None
    label_map: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    ratios: tuple[float, float, float] = DEFAULT_RATIOS
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict) -> ImportOptions:
        ratios = data.get("ratios") or DEFAULT_RATIOS
        return cls(
            text_field=data["text_field"],
            id_field=data.get("id_field") or None,
            label_field=data.get("label_field") or None,
            split_field=data.get("split_field") or None,
            label_map={str(k): str(v) for k, v in (data.get("label_map") or {}).items()},
            format=data.get("format") or None,
            ratios=tuple(float(r) for r in ratios),
            seed=int(data.get("seed") or 0),
        )


@dataclass
class ParsedRow:
    line: int
    external_id: str | None
    text: str
    fields: dict
    label: int | None
    split: str | None


@dataclass
class ImportResult:
    imported: int
    labels_imported: int
    first_row: int


def guess_format(filename: str, explicit: str | None) -> str:
    if explicit:
        fmt = explicit.lower()
        if fmt not in FORMATS:
            raise ImportFailed(
                [ImportProblem(f"unknown format {explicit!r}; choose one of {', '.join(FORMATS)}")]
            )
        return fmt
    lower = filename.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise ImportFailed(
        [
            ImportProblem(
                f"cannot tell the format of {filename!r} from its name; name it .csv or .jsonl, or choose one"
            )
        ]
    )


def decoded_lines(stream, encoding: str = "utf-8") -> Iterator[str]:
    """Lines of the file, split on '\\n' only (so other line separators stay inside the text).

    A UTF-8 byte order mark at the very start is dropped; one anywhere else is text and is kept. An
    undecodable byte raises ImportFailed naming the encoding, the byte offset (from the start of the file,
    BOM included) and the line.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0  # bytes of the file handed to the decoder before this chunk
    newlines_before = 0
    pending = ""
    first = True
    while True:
        chunk = stream.read(1 << 20)
        final = not chunk
        try:
            text = decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            # exc.start counts from the bytes the decoder still held from the last chunk, then this chunk.
            carried = decoder.getstate()[0]
            data = carried + chunk
            at = offset - len(carried) + exc.start
            line = newlines_before + data[: exc.start].count(b"\n") + 1
            bad = data[exc.start : exc.end].hex(" ")
            raise ImportFailed(
                [
                    ImportProblem(
                        f"line {line}: the bytes at offset {at} ({bad}) are not valid {encoding} "
                        f"({exc.reason}); save the file as UTF-8",
                        line=line,
                    )
                ]
            ) from None
        offset += len(chunk)
        newlines_before += chunk.count(b"\n")
        if first and text:
            first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        pending += text
        if pending:
            parts = pending.split("\n")
            pending = parts.pop()
            for part in parts:
                yield part + "\n"
        if final:
            break
    if pending:
        yield pending


def _csv_reason(exc: csv.Error) -> str:
    """The csv module's message, in the words of someone who made the file rather than opened it in Python."""
    text = str(exc)
    if text.startswith("new-line character seen in unquoted field"):
        return (
            "a carriage return (\\r) outside quotes; quote the field, or save the file with \\n line endings"
        )
    if text == "unexpected end of data":
        return "a quoted field is not closed before the end of the file"
    return text


def _records_csv(lines: Iterator[str], wanted: list[str]) -> Iterator[tuple[int, dict]]:
    counter = _LineCounter(lines)
    reader = csv.reader(counter, strict=True)
    header: list[str] = []
    while not any(h.strip() for h in header):  # blank lines before the header are not the header
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFailed([ImportProblem("the file is empty")]) from None
        except csv.Error as exc:
            line = counter.count
            raise ImportFailed(
                [
                    ImportProblem(
                        f"line {line}: the header cannot be read as CSV ({_csv_reason(exc)})", line=line
                    )
                ]
            ) from None
    header_line = counter.count
    header = [h.strip() for h in header]
    repeated = sorted({h for h in header if h and header.count(h) > 1})
    if repeated:
        raise ImportFailed(
            [
                ImportProblem(
                    f"line {header_line}: the header names the column {name!r} more than once",
                    line=header_line,
                    field=name,
                )
                for name in repeated
            ]
        )
    missing = [w for w in wanted if w not in header]
    if missing:
        raise ImportFailed(
            [
                ImportProblem(
                    f"line {header_line}: the column {name!r} is not in the header "
                    f"(the columns are: {', '.join(header)})",
                    line=header_line,
                    field=name,
                )
                for name in missing
            ]
        )
    width = len(header)
    while True:
        start = counter.count + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFailed(
                [
                    ImportProblem(
                        f"line {start}: this row cannot be read as CSV ({_csv_reason(exc)})", line=start
                    )
                ]
            ) from None
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # a blank line
        if len(values) != width:
            raise ImportFailed(
                [
                    ImportProblem(
                        f"line {start}: the row has {len(values)} fields but the header has {width}",
                        line=start,
                    )
                ]
            )
        yield start, dict(zip(header, values, strict=True))


class _LineCounter:
    """Counts the physical lines handed to the csv reader, so records are reported by their first line."""

    def __init__(self, lines: Iterator[str]):
        self.lines = lines
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.count += 1
        return line


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def _records_jsonl(
    lines: Iterator[str], required: list[str], optional: list[str]
) -> Iterator[tuple[int, dict]]:
    """Records of a JSONL file. Every record needs the required fields (text, id); a record without the
    label or split field has no label or split, but a field that no record has is a mistake in the choice."""
    seen_any = False
    unseen = set(optional)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        seen_any = True
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFailed(
                [ImportProblem(f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})", line=number)]
            ) from None
        if not isinstance(record, dict):
            found = _JSON_TYPES.get(type(record), "null")
            raise ImportFailed(
                [ImportProblem(f"line {number}: expected a JSON object, found {found}", line=number)]
            )
        missing = [name for name in required if name not in record]
        if missing:
            raise ImportFailed(
                [
                    ImportProblem(f"line {number}: the field {name!r} is missing", line=number, field=name)
                    for name in missing
                ]
            )
        unseen.difference_update(record)
        yield number, record
    if not seen_any:
        raise ImportFailed([ImportProblem("the file is empty")])
    if unseen:
        raise ImportFailed(
            [
                ImportProblem(f"no record has the field {name!r}", field=name)
                for name in optional
                if name in unseen
            ]
        )


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


def parse(
    stream, filename: str, options: ImportOptions, project: Project, on_progress: Callable | None = None
) -> list[ParsedRow]:
    """Parse and validate the whole file; raise ImportFailed with every problem found (up to a limit)."""
    fmt = guess_format(filename, options.format)
    wanted = [
        f for f in (options.text_field, options.id_field, options.label_field, options.split_field) if f
    ]
    max_chars = settings.CHORUS_MAX_TEXT_CHARS
    # The csv module refuses fields over 128 KiB by default; texts up to our own limit must get through.
    csv.field_size_limit(max(csv.field_size_limit(), 4 * max_chars))
    lines = decoded_lines(stream)
    if fmt == "csv":
        records = _records_csv(lines, wanted)
    else:
        required = [f for f in (options.text_field, options.id_field) if f]
        records = _records_jsonl(lines, required, [f for f in wanted if f not in required])
    problems: list[ImportProblem] = []
    rows: list[ParsedRow] = []
    seen_ids: dict[str, int] = {}
    classes = ", ".join(project.labels)
    max_id = Sample._meta.get_field("external_id").max_length
    skip = {options.text_field, options.label_field}

    def problem(message: str, line: int, field: str | None = None) -> None:
        problems.append(ImportProblem(f"line {line}: {message}", line=line, field=field))

    for line, record in records:
        text = _as_text(record.get(options.text_field))
        if text is None or not text.strip():
            problem(f"the text field {options.text_field!r} is empty", line, options.text_field)
        elif len(text) > max_chars:
            problem(
                f"the text has {len(text)} characters, more than the limit of {max_chars}",
                line,
                options.text_field,
            )
        external_id = None
        if options.id_field:
            external_id = _as_text(record.get(options.id_field))
            if not external_id or not external_id.strip():
                problem(f"the id field {options.id_field!r} is empty", line, options.id_field)
            elif len(external_id) > max_id:
                problem(
                    f"the id has {len(external_id)} characters, more than {max_id}", line, options.id_field
                )
            elif external_id in seen_ids:
                problem(
                    f"duplicate id {external_id!r} (first seen on line {seen_ids[external_id]})",
                    line,
                    options.id_field,
                )
            else:
                seen_ids[external_id] = line
        label = None
        if options.label_field:
            raw = _as_text(record.get(options.label_field))
            if raw is not None and raw.strip() != "":
                name = options.label_map.get(raw, options.label_map.get(raw.strip(), raw.strip()))
                label = project.label_index(name)
                if label is None:
                    hint = "add it to label_map" if options.label_map else "map it to one with label_map"
                    problem(
                        f"label {raw!r} is not one of the project's classes ({classes}); {hint}",
                        line,
                        options.label_field,
                    )
        split = None
        if options.split_field:
            raw = (_as_text(record.get(options.split_field)) or "").strip().lower()
            if raw:
                split = SPLIT_ALIASES.get(raw)
                if split is None:
                    problem(f"split {raw!r} is not train, dev or test", line, options.split_field)
        fields = {k: v for k, v in record.items() if k not in skip}
        for name, value in ((options.text_field, text), *fields.items()):
            reason = _unstorable(name) or _unstorable(value)
            if reason:
                problem(f"the field {name!r} {reason}, which cannot be stored", line, name)
                break
        if len(problems) >= MAX_PROBLEMS:
            problems.append(ImportProblem(f"stopped reading at line {line} after {len(problems)} problems"))
            break
        rows.append(ParsedRow(line, external_id, text or "", fields, label, split))
        if on_progress and len(rows) % 5000 == 0:
            on_progress(len(rows))
    if problems:
        raise ImportFailed(problems)
    if not rows:
        if fmt == "csv":
            raise ImportFailed([ImportProblem("line 1: the file has a header but no rows", line=1)])
        raise ImportFailed([ImportProblem("the file has no records")])
    return rows


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


def _clashes(
    project: Project, rows: list[ParsedRow], ids: list[str], id_field: str | None
) -> list[ImportProblem]:
    """Rows whose id is already taken in the project (checked in chunks, so any file size is covered)."""
    line_of = {external_id: r.line for external_id, r in zip(ids, rows, strict=True)}
    taken: list[str] = []
    for begin in range(0, len(ids), 10_000):
        chunk = ids[begin : begin + 10_000]
        taken += Sample.objects.filter(project=project, external_id__in=chunk).values_list(
            "external_id", flat=True
        )
    taken.sort(key=line_of.__getitem__)
    if id_field:
        why = "is already in the project"
    else:
        # Without an id field a sample's id is its row number, which an earlier import may have used as an id.
        why = "(its row number, as no id field was chosen) is already in the project; choose an id field"
    problems = [
        ImportProblem(f"line {line_of[t]}: id {t!r} {why}", line=line_of[t], field=id_field)
        for t in taken[:MAX_PROBLEMS]
    ]
    if len(taken) > MAX_PROBLEMS:
        problems.append(
            ImportProblem(f"and {len(taken) - MAX_PROBLEMS} more ids of this file are already in the project")
        )
    return problems


@transaction.atomic
def write(
    project: Project, rows: list[ParsedRow], options: ImportOptions, on_progress: Callable | None = None
) -> ImportResult:
    """Write the parsed rows as samples (and imported labels) in one transaction."""
    # Lock the project so two imports never hand out the same row indexes (nor the same ids).
    Project.objects.select_for_update().filter(pk=project.pk).first()
    last = Sample.objects.filter(project=project).aggregate(m=Max("row"))["m"]
    start = (
        0 if last is None else last + 1
    )  # not `last or -1`: a project whose only sample is row 0 has last == 0
    ids = [r.external_id if r.external_id is not None else str(start + i) for i, r in enumerate(rows)]
    clashes = _clashes(project, rows, ids, options.id_field)
    if clashes:
        raise ImportFailed(clashes)
    labels = 0
    for begin in range(0, len(rows), BATCH):
        batch = rows[begin : begin + BATCH]
        samples = [
            Sample(
                project=project,
                row=start + begin + offset,
                external_id=ids[begin + offset],
                text=r.text,
                fields=r.fields,
                split=r.split or seeded_split(ids[begin + offset], options.seed, options.ratios),
                gold_label=r.label,
            )
            for offset, r in enumerate(batch)
        ]
        created = Sample.objects.bulk_create(samples)
        if not all(s.pk for s in created):
            # SQLite before 3.35 cannot return ids; fetch them.
            created = list(
                Sample.objects.filter(
                    project=project, row__gte=start + begin, row__lt=start + begin + len(batch)
                )
            )
        annotations = [
            Annotation(project=project, sample=s, source=Annotation.Source.IMPORT, label=s.gold_label)
            for s in created
            if s.gold_label is not None
        ]
        Annotation.objects.bulk_create(annotations)
        labels += len(annotations)
        if on_progress:
            on_progress(begin + len(batch))
    return ImportResult(imported=len(rows), labels_imported=labels, first_row=start)
