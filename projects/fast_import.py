"""The fast path of a CSV or TSV import on PostgreSQL: pyarrow parses the file in threads, the checks run on
whole columns, and the samples reach the database through one COPY whose CSV pyarrow writes too.

It takes the common case only, a well-formed UTF-8 file. At any problem, or any construct that pyarrow and
Python's csv module might read differently (a lone carriage return, a quote that is neither opening nor
closing a field, a blank line of spaces), it gives up with NotFast: the importer's precise Python pass then
reads the file and names the line and field at fault, so every message is the one the slow path gives.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg.copy import QueuedLibpqWriter

from . import formats
from .models import Annotation, Project, Sample

# pyarrow reads (and parses in parallel) blocks of this many bytes; a batch of samples is one block.
BLOCK = 8 << 20
# Characters Python's str.strip() removes (str.isspace), as an RE2 class: a value made only of these is
# blank to the slow path, so it is blank here too.
_SPACE = (
    r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
# A value is blank unless it holds one character outside that class: an unanchored search for one stops at
# the first letter of a text, where matching the whole value against the class would read all of it.
NOT_BLANK = "[^" + _SPACE[1:]
SPLITS = pa.array(["train", "dev", "test"])
QUOTE, CR, LF = 0x22, 0x0D, 0x0A


class NotFast(Exception):
    """The file needs the precise Python pass (the reason is for the log, never for the user)."""


@dataclass
class FastPlan:
    header: list[str]
    delimiter: str
    rows: int
    labels: int
    ids: pa.ChunkedArray | None  # the id field's values, in file order (None without an id field)


def applies(fmt: str, options) -> bool:
    if fmt not in ("csv", "tsv") or connection.vendor != "postgresql" or options.fields_field:
        return False
    return codecs.lookup(options.encoding).name == "utf-8"


class _Scanned(io.RawIOBase):
    """The file's bytes as pyarrow reads them, checked on the way for what the two CSV readers could take
    differently: a carriage return that is not part of \\r\\n, and a quote out of place.

    In a file both read alike, the quotes alternate: an even one (counting from the start) opens a field,
    so it follows a delimiter, a newline or the start (or is the second of a doubled quote), and an odd
    one closes the field or doubles, so a delimiter, a newline, a quote or the end follows it. Anything
    else ("a"b, or a quote inside an unquoted field) goes to the slow path.
    """

    def __init__(self, stream, delimiter: str):
        self.stream = stream
        self.delim = ord(delimiter)
        self.quotes = 0  # quotes seen before this chunk
        self.prev = -1  # the byte before this chunk (-1: the start of the file)
        self.closing = False  # the last chunk ended on an odd quote: the next byte must end the field
        self.cr = False  # the last chunk ended on \r: the next byte must be \n
        self.at = 0
        self.problem: str | None = None

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n if n and n > 0 else formats.CHUNK)
        if self.problem is None:
            self._scan(data)
        self.at += len(data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _flag(self, why: str) -> None:
        self.problem = self.problem or why

    def _scan(self, data: bytes) -> None:
        if not data:
            if self.quotes % 2:
                self._flag("a quoted field is not closed")
            return
        first = data[0]
        if self.cr and first != LF:
            self._flag("a carriage return outside \\r\\n")
        if self.closing and first not in (QUOTE, self.delim, CR, LF):
            self._flag("a closing quote followed by more of the field")
        crs = data.count(b"\r")
        if crs:
            pairs = data.count(b"\r\n") + (data[-1] == CR)
            if crs != pairs:
                self._flag("a carriage return outside \\r\\n")
        self.cr = data[-1] == CR
        self.closing = False
        if b'"' in data:
            b = np.frombuffer(data, np.uint8)
            q = np.flatnonzero(b == QUOTE)
            odd = ((self.quotes + np.arange(q.size)) & 1).astype(bool)
            before = np.where(q > 0, b[np.maximum(q - 1, 0)].astype(np.int16), np.int16(self.prev))
            if self.at == 0 and data.startswith(codecs.BOM_UTF8):
                before[q == 3] = -1  # the BOM is not part of the first field
            after = np.where(q + 1 < b.size, b[np.minimum(q + 1, b.size - 1)].astype(np.int16), np.int16(-1))
            opens_ok = np.isin(before, (-1, self.delim, LF, QUOTE))
            closes_ok = np.isin(after, (-1, self.delim, CR, LF, QUOTE))
            if np.any(~odd & ~opens_ok) or np.any(odd & ~closes_ok):
                self._flag("a quote in an unquoted field, or a closing quote followed by more")
            self.closing = bool(odd[-1]) and int(q[-1]) == b.size - 1
            self.quotes += int(q.size)
        self.prev = data[-1]


def _header(path, filename: str, options, fmt: str) -> tuple[list[str], str]:
    with formats.open_plain(path, filename) as opened:
        head = opened.stream.peek(4096)[:4096] if hasattr(opened.stream, "peek") else b""
        formats.sniff_type(head, fmt)
        lines = formats.decoded_lines(opened.stream, options.encoding)
        delimiter = options.delimiter or ("\t" if fmt == "tsv" else None)
        header, line, delimiter = formats.csv_header(lines, options.wanted, delimiter)
    if line != 1:
        raise NotFast("the header is not the first line")
    if len(set(header)) != len(header):
        raise NotFast("repeated (blank) column names")
    if any("\x00" in h for h in header):
        raise NotFast("a NUL in the header")
    return header, delimiter


def batches(
    path, filename: str, header: list[str], delimiter: str, progress=None
) -> Iterator[pa.RecordBatch]:
    """The file's rows after the header as record batches of strings; NotFast where pyarrow and the csv module
    could disagree, or pyarrow cannot read it (the slow path then says why)."""
    with formats.open_plain(path, filename) as opened:
        scanned = _Scanned(opened.stream, delimiter)
        try:
            reader = pcsv.open_csv(
                pa.PythonFile(scanned, mode="r"),
                read_options=pcsv.ReadOptions(
                    column_names=header, skip_rows=1, block_size=BLOCK, use_threads=True
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=True
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types={name: pa.string() for name in header},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            for batch in reader:
                if scanned.problem:
                    raise NotFast(scanned.problem)
                if batch.num_rows:
                    yield batch
                if progress:
                    progress(opened.fraction())
        except pa.ArrowInvalid as exc:
            raise NotFast(f"pyarrow: {exc}") from None
        if scanned.problem:
            raise NotFast(scanned.problem)


def _any(mask) -> bool:
    return bool(pc.any(mask).as_py())


class _Columns:
    """One batch's columns as samples: labels and splits mapped, checked like the slow path's _Converter."""

    def __init__(self, project: Project, options, header: list[str]):
        self.project, self.o = project, options
        self.max_chars = settings.CHORUS_MAX_TEXT_CHARS
        self.max_id = Sample._meta.get_field("external_id").max_length
        skip = {options.text_field, options.label_field}
        keep = set(options.metadata_fields) if options.metadata_fields is not None else None
        self.fields = [h for h in header if h not in skip and (keep is None or h in keep)]
        self.keys = [json.dumps(name, ensure_ascii=False) for name in self.fields]
        # importer imports this module; the split names are its.
        from .importer import SPLIT_ALIASES

        self.aliases = SPLIT_ALIASES
        self.label_of: dict[str, int | None] = {}
        self.split_of: dict[str, str | None] = {}

    def check(self, batch: pa.RecordBatch) -> None:
        o = self.o
        limit = formats.csv_field_limit()  # the slow path's reader refuses what is over it
        for name in batch.schema.names:
            column = batch.column(name)
            if _any(pc.match_substring(column, "\x00")):
                raise NotFast(f"a NUL in {name!r}")
            if name != o.text_field and _any(pc.greater(pc.utf8_length(column), limit)):
                raise NotFast(f"a value of {name!r} over the CSV field limit")
        text = batch.column(o.text_field)
        if _any(pc.invert(pc.match_substring_regex(text, NOT_BLANK))):
            raise NotFast("a blank text")
        if _any(pc.greater(pc.utf8_length(text), self.max_chars)):
            raise NotFast("a text over the limit")
        if o.id_field:
            ids = batch.column(o.id_field)
            if _any(pc.invert(pc.match_substring_regex(ids, NOT_BLANK))) or _any(
                pc.greater(pc.utf8_length(ids), self.max_id)
            ):
                raise NotFast("a blank or long id")

    def labels(self, batch: pa.RecordBatch) -> pa.Array:
        """Each row's class index (null without a label), mapped as the slow path maps one value."""
        o = self.o
        if not o.label_field:
            return pa.nulls(batch.num_rows, pa.int16())
        column = batch.column(o.label_field)
        distinct = pc.unique(column)
        for raw in distinct.to_pylist():
            if raw not in self.label_of:
                if not raw.strip():
                    self.label_of[raw] = None
                    continue
                name = o.label_map.get(raw, o.label_map.get(raw.strip(), raw.strip()))
                index = self.project.label_index(name)
                if index is None:
                    raise NotFast("a label not in the schema")
                self.label_of[raw] = index
        mapped = pa.array([self.label_of[raw] for raw in distinct.to_pylist()], pa.int16())
        return pc.take(mapped, pc.index_in(column, value_set=distinct))

    def splits(self, batch: pa.RecordBatch, ids: pa.Array) -> pa.Array:
        o = self.o
        given = pa.nulls(batch.num_rows, pa.string())
        if o.split_field:
            column = batch.column(o.split_field)
            distinct = pc.unique(column)
            for raw in distinct.to_pylist():
                if raw not in self.split_of:
                    key = raw.strip().lower()
                    self.split_of[raw] = self.aliases.get(key) if key else None
                    if key and self.split_of[raw] is None:
                        raise NotFast("a split not train, dev or test")
            mapped = pa.array([self.split_of[raw] for raw in distinct.to_pylist()], pa.string())
            given = pc.take(mapped, pc.index_in(column, value_set=distinct))
            if given.null_count == 0:
                return given
        seeded = pc.take(SPLITS, pa.array(seeded_codes(ids, o.seed, o.ratios)))
        return pc.coalesce(given, seeded)

    def fields_json(self, batch: pa.RecordBatch) -> pa.Array:
        """The kept fields of each row as a JSON object, as json.dumps(ensure_ascii=False) writes it."""
        if not self.fields:
            return pa.repeat(pa.scalar("{}"), batch.num_rows)
        parts: list = []
        for i, (name, key) in enumerate(zip(self.fields, self.keys, strict=True)):
            parts += [("{" if i == 0 else ",") + key + ':"', _json_escaped(batch.column(name)), '"']
        parts.append("}")
        return pc.binary_join_element_wise(*parts, "")


def _json_escaped(column: pa.Array) -> pa.Array:
    if _any(pc.match_substring_regex(column, r"[\x00-\x1f]")):
        dumps = json.JSONEncoder(ensure_ascii=False).encode
        return pa.array([dumps(v)[1:-1] for v in column.to_pylist()], pa.string())
    return pc.replace_substring(pc.replace_substring(column, "\\", "\\\\"), '"', '\\"')


def seeded_codes(ids, seed: int, ratios) -> np.ndarray:
    """importer.seeded_split for many ids at once, as 0 train, 1 dev, 2 test (the same draw, bit for bit)."""
    prefix = f"{seed}:".encode()
    blake2b = hashlib.blake2b
    if len(ids) == 0:
        return np.empty(0, np.int64)
    if isinstance(ids, pa.ChunkedArray | pa.Array):
        # Straight from the column's UTF-8 bytes: no Python string is made for an id.
        ids = (ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids).cast(pa.large_string())
        offsets = np.frombuffer(ids.buffers()[1], np.int64)[ids.offset : ids.offset + len(ids) + 1]
        data = ids.buffers()[2].to_pybytes() if len(ids) else b""
        keys = (data[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True))
    else:
        keys = (key.encode() for key in ids)
    digests = b"".join(blake2b(prefix + key, digest_size=8).digest() for key in keys)
    u = np.frombuffer(digests, dtype=">u8").astype(np.float64) / 2**64
    total = sum(ratios)
    return np.where(u < ratios[0] / total, 0, np.where(u < (ratios[0] + ratios[1]) / total, 1, 2))


def check(path, filename: str, options, project: Project, fmt: str, on_progress: Callable | None = None):
    """The first pass: every row checked a batch at a time; NotFast at the first doubt."""
    header, delimiter = _header(path, filename, options, fmt)
    columns = _Columns(project, options, header)
    rows = labels = 0
    ids: list[pa.Array] = []
    report = (lambda fraction: on_progress(rows, fraction)) if on_progress else None
    for batch in batches(path, filename, header, delimiter, report):
        columns.check(batch)
        labels += batch.num_rows - columns.labels(batch).null_count
        if options.split_field:
            _check_splits(columns, batch)
        if options.id_field:
            ids.append(batch.column(options.id_field))
        rows += batch.num_rows
    if not rows:
        raise NotFast("no rows")
    chunked = pa.chunked_array(ids, pa.string()) if options.id_field else None
    if chunked is not None and pc.count_distinct(chunked).as_py() != rows:
        raise NotFast("a repeated id")
    return FastPlan(header=header, delimiter=delimiter, rows=rows, labels=labels, ids=chunked)


def _check_splits(columns: _Columns, batch: pa.RecordBatch) -> None:
    # Only the mapping of the given values matters here; the seeded draw waits for the write.
    o = columns.o
    for raw in pc.unique(batch.column(o.split_field)).to_pylist():
        key = raw.strip().lower()
        if key and columns.aliases.get(key) is None:
            raise NotFast("a split not train, dev or test")


class Copy:
    """Samples as CSV for COPY ... (FORMAT csv), a batch at a time; the imported labels after them."""

    def __init__(self, project: Project, now, ids: np.ndarray):
        self.project, self.now, self.ids = project, now, ids
        self.used = 0
        self.labeled: list[pa.Array] = []
        self.label_values: list[pa.Array] = []
        self.columns = list(Sample._meta.concrete_fields)
        self.defaults = {f.name: _storable(f.get_default()) for f in self.columns}
        quoted = ", ".join(connection.ops.quote_name(f.column) for f in self.columns)
        self.sql = (
            f"COPY {connection.ops.quote_name(Sample._meta.db_table)} ({quoted}) FROM STDIN (FORMAT csv)"
        )

    def rows(self, first_row: int, external_ids: pa.Array, text, fields, splits, labels) -> bytes:
        n = len(external_ids)
        pks = self.ids[self.used : self.used + n]
        if len(pks) < n:
            raise NotFast("more rows than the check counted")
        self.used += n
        given = {
            "id": pa.array(pks),
            "project": pa.repeat(pa.scalar(self.project.pk, pa.int64()), n),
            "row": pa.array(np.arange(first_row, first_row + n, dtype=np.int64)),
            "external_id": external_ids,
            "text": text,
            "fields": fields,
            "split": splits,
            "gold_label": labels,
            "created_at": pa.repeat(pa.scalar(self.now.isoformat()), n),
        }
        arrays, names = [], []
        for f in self.columns:
            if f.name in given:
                arrays.append(given[f.name])
            else:
                arrays.append(pa.repeat(pa.scalar(self.defaults[f.name]), n))
            names.append(f.column)
        if labels.null_count < n:
            has = pc.is_valid(labels)
            self.labeled.append(pc.filter(given["id"], has))
            self.label_values.append(pc.filter(labels, has))
        return _csv(pa.table(arrays, names=names))

    def labels_csv(self) -> tuple[str, bytes] | None:
        if not self.labeled:
            return None
        samples = pa.concat_arrays(self.labeled)
        values = pa.concat_arrays(self.label_values)
        n = len(samples)
        columns = [f for f in Annotation._meta.concrete_fields if not f.primary_key]
        fixed = {
            "project": pa.repeat(pa.scalar(self.project.pk, pa.int64()), n),
            "sample": samples,
            "label": values,
            "annotator": pa.nulls(n, pa.int64()),
            "source": pa.repeat(pa.scalar(str(Annotation.Source.IMPORT)), n),
            "reason": pa.repeat(pa.scalar(""), n),
            "created_at": pa.repeat(pa.scalar(self.now.isoformat()), n),
            "updated_at": pa.repeat(pa.scalar(self.now.isoformat()), n),
        }
        arrays = [
            fixed[f.name] if f.name in fixed else pa.repeat(pa.scalar(_storable(f.get_default())), n)
            for f in columns
        ]
        quoted = ", ".join(connection.ops.quote_name(f.column) for f in columns)
        sql = (
            f"COPY {connection.ops.quote_name(Annotation._meta.db_table)} ({quoted}) FROM STDIN (FORMAT csv)"
        )
        return sql, _csv(pa.table(arrays, names=[f.column for f in columns]))


def _copy(cursor, sql: str):
    """A COPY whose data a thread sends while this one makes the next batch (psycopg queues at most 128 MiB:
    pyarrow makes batches faster than PostgreSQL takes them)."""
    raw = cursor.cursor
    return raw.copy(sql, writer=QueuedLibpqWriter(raw))


def _storable(value):
    """A column default as COPY takes it: JSON defaults (a dict, a list) as their JSON text."""
    return json.dumps(value) if isinstance(value, dict | list) else value


def _csv(table: pa.Table) -> bytes:
    # "needed" quotes every string and nothing else: PostgreSQL's CSV reads a quoted "" as an empty string and
    # an unquoted empty field as NULL, which is what the nulls are.
    sink = io.BytesIO()
    pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


def _reserve_ids(n: int) -> np.ndarray:
    """n sample ids from their sequence, so the imported labels can be COPYed with the samples' ids."""
    if n <= 0:
        return np.empty(0, np.int64)
    table, pk = Sample._meta.db_table, Sample._meta.pk.column
    with connection.cursor() as cursor:
        # One text value rather than n rows: fetching a million rows costs more than drawing the numbers.
        cursor.execute(
            "SELECT string_agg(nextval(pg_get_serial_sequence(%s, %s))::text, ',') FROM generate_series(1, %s)",
            [table, pk, n],
        )
        (text,) = cursor.fetchone()
    parts = pc.split_pattern(pa.array([text]), ",")
    return pc.cast(parts.flatten(), pa.int64()).to_numpy()


# Whether the last import's COPYs ran without the per-row foreign key triggers (the bench prints it).
last_keys_unchecked = False


@contextmanager
def _keys_proven():
    """Around a COPY of this import only: skip PostgreSQL's per-row foreign key triggers, whose checks the
    import has already made once for all rows.

    Every key the COPYs write is proven before they run: each sample's project is the one row locked FOR
    UPDATE by write() until the commit (so it exists and cannot go), claimed_by is NULL, and each imported
    label points at that project, no annotator, and a sample of this COPY, with its id drawn from the sequence
    in this transaction. The triggers would make the same check once per row and deferred to the commit, which
    on a million rows costs about as much as the COPY itself, and is what keeps a large import over a minute.
    session_replication_role is set for the COPY statement alone and put back right after, so nothing else in
    the transaction (the updates of duplicates, the labels' gold refresh) goes unchecked. It needs a role
    allowed to set it (a superuser, or one granted SET on it, PostgreSQL 15+); without that the triggers run.
    """
    global last_keys_unchecked
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        last_keys_unchecked = False
        yield
        return
    last_keys_unchecked = True
    yield  # on an error the whole transaction rolls back, and the setting with it
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = origin")


@dataclass
class Written:
    new: int
    skipped: int
    labels: int
    duplicates: list[tuple[int, dict]]  # (row in the file, record) of rows whose id the project has


def write(
    project: Project,
    path,
    filename: str,
    options,
    plan: FastPlan,
    start: int,
    taken: set[str],
    now,
    on_progress: Callable | None = None,
) -> Written:
    """The second pass, inside the caller's transaction: COPY the new samples, then their imported labels.

    Rows whose id is in `taken` are not written; they come back for the caller to skip or update."""
    columns = _Columns(project, options, plan.header)
    copy = Copy(project, now, _reserve_ids(plan.rows - len(taken)))
    known = pa.array(sorted(taken), pa.string()) if taken else None
    new = skipped = done = 0
    duplicates: list[tuple[int, dict]] = []
    with _keys_proven(), connection.cursor() as cursor, _copy(cursor, copy.sql) as out:
        for batch in batches(path, filename, plan.header, plan.delimiter):
            columns.check(batch)
            offset, done = done, done + batch.num_rows
            if options.id_field:
                external_ids = batch.column(options.id_field)
            else:
                first = start + new
                external_ids = pc.cast(pa.array(np.arange(first, first + batch.num_rows)), pa.string())
            if known is not None:
                clash = pc.is_in(external_ids, value_set=known)
                if _any(clash):
                    if options.on_duplicate == "skip":
                        skipped += int(pc.sum(clash).as_py())
                    else:
                        positions = np.flatnonzero(clash.to_numpy(zero_copy_only=False))
                        records = batch.filter(clash).to_pylist()
                        duplicates += [(offset + int(i), r) for i, r in zip(positions, records, strict=True)]
                    keep = pc.invert(clash)
                    batch, external_ids = batch.filter(keep), pc.filter(external_ids, keep)
            if batch.num_rows:
                out.write(
                    copy.rows(
                        start + new,
                        external_ids,
                        batch.column(options.text_field),
                        columns.fields_json(batch),
                        columns.splits(batch, external_ids),
                        columns.labels(batch),
                    )
                )
                new += batch.num_rows
            if on_progress:
                on_progress(done)
    if done != plan.rows or new != copy.used:
        from .formats import ImportFailed, ImportProblem

        raise ImportFailed([ImportProblem("the file changed while it was being imported; import it again")])
    labels = 0
    if options.label_field and (made := copy.labels_csv()):
        sql, data = made
        with _keys_proven(), connection.cursor() as cursor, cursor.cursor.copy(sql) as out:
            out.write(data)
        labels = len(pa.concat_arrays(copy.labeled))
    return Written(new=new, skipped=skipped, labels=labels, duplicates=duplicates)
