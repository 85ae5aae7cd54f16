"""A columnar snapshot of each project's samples (Parquet), which workers read instead of the database.

One Parquet part per import (rows first..last), so an import appends a part rather than rewriting the
whole project. A part is cut into row groups; a process reads the groups its work touches and keeps them
in memory, keyed by the parts on disk, so a chunk task reads only its rows, and only the first time. A snapshot that does not match the database (samples made outside an
import, or a missing folder) is rebuilt from the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection

from projects.models import Project, Sample

READ_BATCH = 20_000
# Rows per Parquet row group: a worker reads only the groups of the rows its chunks cover.
ROW_GROUP = 50_000
SPLIT_CODES = {"train": 0, "dev": 1, "test": 2}
COLUMNS = ("row", "id", "text", "split")
# Projects whose row groups a process keeps in memory (most recently used).
KEEP_PROJECTS = 2
_cache: dict[int, _Snapshot] = {}
_lock = threading.Lock()


def folder(project: Project) -> Path:
    # The creation time keeps a new project that reuses an id (a recreated database) off an old snapshot.
    stamp = int(project.created_at.timestamp() * 1_000_000)
    return Path(settings.MEDIA_ROOT) / "snapshots" / f"project-{project.pk}-{stamp}"


def _parts(project: Project) -> list[Path]:
    path = folder(project)
    if not path.is_dir():
        return []
    return sorted(path.glob("rows-*.parquet"), key=lambda p: int(p.stem.split("-")[1]))


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _write_part(project: Project, first_row: int, last_row: int) -> int:
    """Write rows first_row..last_row (inclusive) of the project as one part; returns the rows written."""
    table = _columns_by_copy(project, first_row, last_row) if connection.vendor == "postgresql" else None
    if table is None:
        table = _columns_row_by_row(project, first_row, last_row)
    if table is None:
        return 0
    path = folder(project)
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".rows-{first_row}.parquet.tmp"
    pq.write_table(table, tmp, row_group_size=ROW_GROUP)
    tmp.replace(path / f"rows-{first_row}.parquet")
    return table.num_rows


def _columns_by_copy(project: Project, first_row: int, last_row: int) -> pa.Table | None:
    """The part's columns read by PostgreSQL's COPY and pyarrow's CSV and JSON readers, with no Python object
    per row (a million-row import's part in seconds, not the half minute row by row takes).

    Only when every field holds text (what a CSV import makes): a number, a boolean or a nested value must
    become the JSON text _columns_row_by_row gives it, which that path does; it is the answer then (None).
    """
    s = Sample._meta
    q = connection.ops.quote_name
    sql = (
        f"COPY (SELECT {q('row')}, {q('external_id')}, {q('text')}, {q('split')}, {q('fields')} "
        f"FROM {q(s.db_table)} WHERE {q('project_id')} = {int(project.pk)} "
        f"AND {q('row')} BETWEEN {int(first_row)} AND {int(last_row)} ORDER BY {q('row')}) TO STDOUT (FORMAT csv)"
    )
    sink = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in copy:
            sink.write(chunk)
    if not sink.tell():
        return None
    sink.seek(0)
    names = ["row", "id", "text", "split", "fields"]
    read = pcsv.read_csv(
        sink,
        read_options=pcsv.ReadOptions(column_names=names),
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types={"row": pa.int64(), **{n: pa.large_string() for n in names[1:]}},
            strings_can_be_null=False,
        ),
    )
    codes = pc.index_in(read.column("split"), value_set=pa.array(list(SPLIT_CODES), pa.large_string()))
    columns = {
        "row": read.column("row"),
        "id": read.column("id"),
        "text": read.column("text"),
        "split": pc.cast(codes, pa.int8()),
    }
    fields = read.column("fields")
    if pc.all(pc.equal(fields, "{}")).as_py():
        return pa.table(columns)
    # jsonb prints each object on one line (a newline in a value is escaped), so the column is JSON Lines.
    objects = fields.combine_chunks()
    whole = pa.LargeListArray.from_arrays(pa.array([0, len(objects)], pa.int64()), objects)
    data = pc.binary_join(whole, pa.scalar("\n", pa.large_string()))[0].as_buffer()
    try:
        parsed = pjson.read_json(pa.BufferReader(data))
    except pa.ArrowInvalid:
        return None
    if parsed.num_rows != read.num_rows:
        return None
    for name in sorted(parsed.column_names):
        column = parsed.column(name)
        if not (
            pa.types.is_string(column.type)
            or pa.types.is_large_string(column.type)
            or pa.types.is_null(column.type)
        ):
            return None  # not all text: the row-by-row path writes each value as _as_text does
        columns[f"field:{name}"] = pc.cast(column, pa.large_string())
    return pa.table(columns)


def _columns_row_by_row(project: Project, first_row: int, last_row: int) -> pa.Table | None:
    rows, ids, texts, splits, fields = [], [], [], [], []
    qs = (
        Sample.objects.filter(project=project, row__gte=first_row, row__lte=last_row)
        .order_by("row")
        .values_list("row", "external_id", "text", "split", "fields")
    )
    for row, external_id, text, split, extra in qs.iterator(chunk_size=READ_BATCH):
        rows.append(row)
        ids.append(external_id)
        texts.append(text)
        splits.append(SPLIT_CODES[split])
        fields.append(extra or {})
    if not rows:
        return None
    names = sorted({k for f in fields for k in f})
    columns = {
        "row": pa.array(rows, type=pa.int64()),
        "id": pa.array(ids, type=pa.large_string()),
        "text": pa.array(texts, type=pa.large_string()),
        "split": pa.array(splits, type=pa.int8()),
    }
    for name in names:
        columns[f"field:{name}"] = pa.array([_as_text(f.get(name)) for f in fields], type=pa.large_string())
    return pa.table(columns)


@contextlib.contextmanager
def _writing(project: Project):
    """One writer of a project's snapshot at a time, across processes: an import's append and a refit's
    rebuild used to meet, and the rebuild's rmtree failed on the part the append had just written."""
    path = folder(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _deleted(project: Project) -> bool:
    # A worker still holding a project that was deleted meanwhile must not write its snapshot (or lock file)
    # back after the deletion removed them (projects.deletion).
    return not Project.objects.filter(pk=project.pk).exists()


def append(project: Project, first_row: int, count: int) -> None:
    """Add the rows of one import to the snapshot (called after the import commits)."""
    if count and not _deleted(project):
        with _writing(project):
            _write_part(project, first_row, first_row + count - 1)


def rebuild(project: Project, unless_holds: int | None = None) -> None:
    """Write the snapshot again from the database. unless_holds: leave it if, once this process holds the
    lock, it already has that many rows and every column: a web process and a worker that both found it
    short rebuilt it one after the other, and the second's rmtree took the files the first was reading."""
    if _deleted(project):
        return
    with _writing(project) as path:
        if unless_holds is not None:
            snap = _open(project, _parts(project))
            if snap is not None and snap.num_rows >= unless_holds and set(COLUMNS) <= snap.columns:
                return
        if path.exists():
            shutil.rmtree(path)
        n = Sample.objects.filter(project=project).count()
        if n:
            _write_part(project, 0, n - 1)


def _fingerprint(parts: list[Path]) -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in parts)


@dataclass
class _Snapshot:
    """What a worker knows of one project's snapshot on disk: its parts' row groups, read on first use."""

    key: tuple
    # Per part: its path, its first row, and the first row of each of its row groups (and the end).
    parts: list[tuple[Path, int, list[int]]]
    columns: set[str]
    # (part, row group, columns or None for all): the group as read.
    groups: dict[tuple[int, int, tuple[str, ...] | None], pa.Table] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return self.parts[-1][2][-1] if self.parts else 0

    def read(self, start: int, stop: int, columns: tuple[str, ...] | None = None) -> pa.Table | None:
        """Rows start..stop-1 as one table (zero-copy slices of the cached row groups)."""
        pieces = []
        for p, (path, _first, bounds) in enumerate(self.parts):
            for g in range(len(bounds) - 1):
                a, b = bounds[g], bounds[g + 1]
                if b <= start or a >= stop:
                    continue
                table = self.groups.get((p, g, None))
                if table is None and columns:
                    # Only some columns (a refit's splits): read just those, not the texts.
                    table = self.groups.get((p, g, columns))
                    if table is None:
                        present = [c for c in columns if c in pq.ParquetFile(path).schema_arrow.names]
                        table = pq.ParquetFile(path).read_row_group(g, columns=present)
                        with _lock:
                            self.groups[(p, g, columns)] = table
                elif table is None:
                    table = pq.ParquetFile(path).read_row_group(g)
                    with _lock:
                        self.groups[(p, g, None)] = table
                lo, hi = max(start, a) - a, min(stop, b) - a
                piece = table.slice(lo, hi - lo)
                pieces.append(
                    piece.select([c for c in columns if c in piece.column_names]) if columns else piece
                )
        if not pieces:
            return None
        table = pa.concat_tables(pieces, promote_options="default") if len(pieces) > 1 else pieces[0]
        rows = table.column("row").to_numpy() if "row" in table.column_names else None
        if rows is not None and not np.array_equal(rows, np.arange(start, start + table.num_rows)):
            return None  # the parts are not the dense rows 0..n-1 they claim to be
        return table


def _open(project: Project, parts: list[Path]) -> _Snapshot | None:
    """The project's snapshot as its parts' metadata describe it; None if they do not tile rows 0..n-1."""
    if not parts:
        return None
    key = _fingerprint(parts)
    with _lock:
        hit = _cache.get(project.pk)
        if hit is not None and hit.key == key:
            _cache[project.pk] = _cache.pop(project.pk)  # most recently used last
            return hit
    described = []
    expected = 0
    columns: set[str] = set()
    for path in parts:
        first = int(path.stem.split("-")[1])
        meta = pq.ParquetFile(path).metadata
        if first != expected:
            return None
        bounds = [first]
        for g in range(meta.num_row_groups):
            bounds.append(bounds[-1] + meta.row_group(g).num_rows)
        described.append((path, first, bounds))
        columns |= set(meta.schema.names)
        expected = bounds[-1]
    snap = _Snapshot(key=key, parts=described, columns=columns)
    with _lock:
        _cache[project.pk] = snap
        while len(_cache) > KEEP_PROJECTS:
            del _cache[next(iter(_cache))]
    return snap


def _usable(project: Project, n_rows: int) -> _Snapshot:
    snap = _open(project, _parts(project))
    if snap is None or snap.num_rows < n_rows or not set(COLUMNS) <= snap.columns:
        rebuild(project, unless_holds=n_rows)
        snap = _open(project, _parts(project))
    if n_rows and (snap is None or snap.num_rows < n_rows):
        have = 0 if snap is None else snap.num_rows
        raise RuntimeError(f"the snapshot of project {project.pk} has {have} rows, expected {n_rows}")
    return snap  # type: ignore[return-value]


def _empty() -> pa.Table:
    empty = pa.array([], type=pa.large_string())
    return pa.table(
        {
            "row": pa.array([], type=pa.int64()),
            "id": empty,
            "text": empty,
            "split": pa.array([], type=pa.int8()),
        }
    )


def rows(
    project: Project, start: int, stop: int, n_rows: int, columns: tuple[str, ...] | None = None
) -> pa.Table:
    """Rows start..stop-1 of the project's first n_rows samples (the columns of `load`), read from the row
    groups that hold them: a worker reads the part of the snapshot its chunks need, once."""
    if stop <= start or not n_rows:
        return _empty()
    wanted = None if columns is None else tuple(dict.fromkeys(("row", *columns)))
    try:
        table = _usable(project, n_rows).read(start, min(stop, n_rows), wanted)
    except FileNotFoundError:
        # Another process rewrote the snapshot (a rebuild after an edit of samples) between this one's look
        # at its parts and the read: look again.
        table = _usable(project, n_rows).read(start, min(stop, n_rows), wanted)
    if table is None:
        # Parts that do not hold the rows they claim (written outside an import): rebuild once from the DB.
        rebuild(project)
        table = _usable(project, n_rows).read(start, min(stop, n_rows), wanted)
        if table is None:
            raise RuntimeError(f"the snapshot of project {project.pk} does not hold rows {start}-{stop - 1}")
    return table


def load(project: Project, n_rows: int) -> pa.Table:
    """Rows 0..n_rows-1 of the project's samples, in order: row, id, text, split (0 train, 1 dev, 2 test),
    and field:<name> for each other field. Rows past n_rows (arrived after an application started) are left
    to the next application."""
    return rows(project, 0, n_rows, n_rows)


def column(project: Project, name: str, n_rows: int) -> np.ndarray:
    """One column of rows 0..n_rows-1 as a numpy array (the split codes a refit needs, say)."""
    if not n_rows:
        return np.zeros(0, dtype=np.int8 if name == "split" else object)
    return rows(project, 0, n_rows, n_rows, (name,)).column(name).to_numpy()


def field_names(project: Project, n_rows: int) -> list[str]:
    """The sample fields of the project's first n_rows samples (a field:<name> column of the snapshot is a field
    some sample has), sorted: read from the parts' Parquet metadata, not from the samples."""
    if not n_rows:
        return []
    return sorted(name[6:] for name in _usable(project, n_rows).columns if name.startswith("field:"))


def version_of(project: Project) -> tuple:
    """Changes whenever the snapshot's files change: a key for what workers derive from it."""
    return _fingerprint(_parts(project))
