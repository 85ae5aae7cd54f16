"""Uploads waiting for their field mapping: stored once under MEDIA_ROOT/uploads/<token>/, owned by a session.

The import page takes the file in step 1 and shows its columns and first rows; step 2 hands the same stored
file to services.start_import, so the browser uploads it only once.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files import File

from . import formats, importer
from .services import ServiceError

SESSION_KEY = "chorus_uploads"
# Uploads this session imported, by token: the mapping step's address outlives its upload (the browser's Back
# button, a second tab), and it then says where the import went instead of answering 404.
IMPORTED_KEY = "chorus_uploads_imported"
IMPORTED_KEPT = 20
PREVIEW_ROWS = 5
# Distinct label values are collected from this many rows: enough to see every class of a normal file.
VALUE_SCAN_ROWS = 2000
MAX_VALUES = 50
# An upload nobody mapped within a day is abandoned; staging a new one clears those.
STALE_SECONDS = 24 * 3600


@dataclass
class Staged:
    token: str
    project_id: int
    filename: str
    size: int
    format: str
    encoding: str = "utf-8"

    @property
    def path(self) -> Path:
        return _root() / self.token / "file"


@dataclass
class Preview:
    columns: list[str]
    rows: list[dict] = field(default_factory=list)


def _root() -> Path:
    return Path(settings.MEDIA_ROOT) / "uploads"


def _clear_stale() -> None:
    root = _root()
    if not root.is_dir():
        return
    cutoff = time.time() - STALE_SECONDS
    for entry in root.iterdir():
        try:
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
        except FileNotFoundError:
            continue


def stage(session, project, upload, encoding: str | None = None) -> Staged:
    """Store the upload for this session and project; refuse what the import would refuse anyway."""
    if upload is None:
        raise ServiceError("choose a CSV, TSV, JSON, JSONL or Parquet file to upload", "file")
    try:
        encoding = formats.check_encoding(encoding)
    except importer.ImportFailed as exc:
        raise ServiceError(exc.problems[0].message, "encoding") from None
    if upload.size == 0:
        raise ServiceError("the file is empty", "file")
    limit = settings.CHORUS_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise ServiceError(f"the file is {upload.size:,} bytes, more than the limit of {limit:,}", "file")
    try:
        fmt = importer.guess_format(upload.name, None)
    except importer.ImportFailed as exc:
        raise ServiceError(exc.problems[0].message, "file") from None
    _clear_stale()
    token = secrets.token_urlsafe(16)
    folder = _root() / token
    folder.mkdir(parents=True)
    with open(folder / "file", "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    # The project's id beside the file: deleting the project finds its staged uploads (projects.deletion).
    (folder / "project").write_text(str(project.pk))
    if fmt == "zip":
        try:
            fmt = formats.member_format(folder / "file", upload.name, None)
        except importer.ImportFailed as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ServiceError(exc.problems[0].message, "file") from None
    staged = Staged(token, project.pk, Path(upload.name).name[:255], upload.size, fmt, encoding)
    uploads = dict(session.get(SESSION_KEY) or {})
    uploads[token] = {
        "project_id": project.pk,
        "filename": staged.filename,
        "size": staged.size,
        "format": fmt,
        "encoding": encoding,
    }
    session[SESSION_KEY] = uploads
    return staged


def get(session, project, token: str) -> Staged | None:
    """The session's staged upload for this project, or None (another session's token finds nothing)."""
    data = (session.get(SESSION_KEY) or {}).get(token)
    if not data or data["project_id"] != project.pk:
        return None
    staged = Staged(
        token,
        data["project_id"],
        data["filename"],
        data["size"],
        data["format"],
        data.get("encoding", "utf-8"),
    )
    return staged if staged.path.is_file() else None


def discard(session, staged: Staged) -> None:
    uploads = dict(session.get(SESSION_KEY) or {})
    uploads.pop(staged.token, None)
    session[SESSION_KEY] = uploads
    shutil.rmtree(staged.path.parent, ignore_errors=True)


def mark_imported(session, staged: Staged, job_id: int) -> None:
    """Forget the staged upload (its job keeps its own copy) but remember which job imported it."""
    discard(session, staged)
    imported = dict(session.get(IMPORTED_KEY) or {})
    imported[staged.token] = {"project_id": staged.project_id, "filename": staged.filename, "job_id": job_id}
    session[IMPORTED_KEY] = dict(list(imported.items())[-IMPORTED_KEPT:])


def imported_by(session, project, token: str) -> dict | None:
    """{"filename", "job_id"} of this session's upload `token` once it was imported into this project."""
    data = (session.get(IMPORTED_KEY) or {}).get(token)
    if not data or data["project_id"] != project.pk:
        return None
    return data


def _read(staged: Staged, limit: int, lines: list[int] | None = None) -> tuple[list[str], list[dict]]:
    """The columns and first `limit` records, read the way the importer reads them (and their lines)."""
    rows: list[dict] = []
    columns: list[str] = []
    try:
        with formats.open_plain(staged.path, staged.filename) as opened:
            fmt = staged.format
            for line, record in formats.records(opened, fmt, [], staged.encoding, None):
                if lines is not None:
                    lines.append(line)
                rows.append(record)
                columns.extend(k for k in record if k not in columns)
                if len(rows) >= limit:
                    break
    except importer.ImportFailed as exc:
        raise ServiceError(exc.problems[0].message, "file") from None
    if not rows:
        raise ServiceError("the file has no records (at most a header)", "file")
    return columns, rows


def preview(staged: Staged) -> Preview:
    columns, rows = _read(staged, PREVIEW_ROWS)
    shown = [{c: _display(row.get(c)) for c in columns} for row in rows]
    return Preview(columns=columns, rows=shown)


def distinct_values(staged: Staged, column: str) -> list[str]:
    """The distinct non-empty values of a column in the first rows, as the importer will read them."""
    _, rows = _read(staged, VALUE_SCAN_ROWS)
    seen: dict[str, None] = {}
    for row in rows:
        value = importer._as_text(row.get(column))
        if value is not None and value.strip():
            seen.setdefault(value.strip(), None)
            if len(seen) >= MAX_VALUES:
                break
    return sorted(
        seen, key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v)
    )


def _id_like(name: str) -> int | None:
    """How much a column's name says it holds ids (lower is surer), or None when it says nothing of the kind."""
    lower = name.strip().lower()
    if lower in ("id", "external_id"):
        return 0
    if lower in ("uid", "uuid", "guid", "key") or lower.endswith(("_id", "-id", " id")):
        return 1
    if name.endswith("Id") and len(name) > 2:  # camelCase: commentId
        return 1
    return None


@dataclass
class IdGuess:
    column: str  # the suggested id field, or "" for none (samples are numbered)
    # Columns named like ids that are not suggested, each with why (a repeated or empty value, and where).
    passed_over: list[tuple[str, str]] = field(default_factory=list)


def guess_id_field(staged: Staged, columns: list[str]) -> IdGuess:
    """The column to suggest as the id field: one named like an id whose values in the first rows are all
    given and all different. A name alone is not enough: an id that repeats makes the import fail."""
    candidates = sorted((rank, i, c) for i, c in enumerate(columns) if (rank := _id_like(c)) is not None)
    if not candidates:
        return IdGuess("")
    unit = formats.unit(staged.format)
    lines: list[int] = []
    _, rows = _read(staged, VALUE_SCAN_ROWS, lines)
    guess = IdGuess("")
    for _, _, column in candidates:
        seen: dict[str, int] = {}
        why = None
        for line, row in zip(lines, rows, strict=True):
            value = importer._as_text(row.get(column))
            if value is None or not value.strip():
                why = f"it is empty on {unit} {line}"
                break
            if value in seen:
                why = f"{value!r} is on {unit}s {seen[value]} and {line}"
                break
            seen[value] = line
        if why is None and not guess.column:
            guess.column = column
        elif why is not None:
            guess.passed_over.append((column, why))
    return guess


def _display(value) -> str:
    text = importer._as_text(value)
    return "" if text is None else text


def as_file(staged: Staged) -> File:
    """The staged file opened for services.start_import (which stores it with its job)."""
    return File(open(staged.path, "rb"), name=staged.filename)  # noqa: SIM115 - closed by the caller


# Room for the multipart framing and the form's other fields around the file itself.
MULTIPART_SLACK = 1 << 20


class RefuseOversizedUploads:
    """Refuse a request whose Content-Length already says it is over the upload limit, before anything reads
    its body (the CSRF check would read a whole multipart body to find its token). A body without a length
    is still measured as it streams, by the checks of the upload itself."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.CHORUS_MAX_UPLOAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + MULTIPART_SLACK:
            return _too_large(request, length, limit)
        return self.get_response(request)


def _too_large(request, length: int, limit: int):
    from django.http import JsonResponse
    from django.shortcuts import render

    message = (
        f"the upload is {length:,} bytes, more than the limit of {limit:,}; nothing was read "
        "(split the file, or compress it with gzip or zip)"
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"message": message, "field": "file"}, status=413)
    from django.utils.http import url_has_allowed_host_and_scheme

    back = request.META.get("HTTP_REFERER", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = "/"
    return render(request, "upload_too_large.html", {"message": message, "back": back}, status=413)
