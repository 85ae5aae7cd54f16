"""Reading the files people bring: the format and compression of a file, and its records one at a time.

Formats: CSV and TSV (delimiter chosen or detected), a JSON array, JSONL, Parquet; each may come gzip- or
zip-compressed. Records are streamed: nothing here holds more than a chunk of the file in memory, so the
importer can read a file twice (check, then write) at any size. Every problem is an ImportFailed naming the
line (or row) and field.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import decimal
import gzip
import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Recognised by their first bytes, to say what a wrongly chosen file is rather than fail on its bytes.
MAGIC = [
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel or Word file"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"SQLite format 3", "an SQLite database"),
]
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
CHUNK = 1 << 20
PARQUET_BATCH = 10_000
# A JSON array's object larger than this (undecoded) is reported where it starts instead of read on.
MAX_JSON_OBJECT_CHARS = 64 << 20


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


def _fail(message: str, line: int | None = None, field: str | None = None):
    raise ImportFailed([ImportProblem(message, line=line, field=field)])


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _split_name(name: str) -> tuple[str, str | None]:
    """The name without a compression suffix, and the compression it names (gzip, zip or None)."""
    lower = name.lower()
    if lower.endswith(".gz"):
        return name[:-3], "gzip"
    if lower.endswith(".gzip"):
        return name[:-5], "gzip"
    if lower.endswith(".zip"):
        return name[:-4], "zip"
    return name, None


def format_from_name(name: str) -> str | None:
    inner, _ = _split_name(Path(name).name)
    return EXTENSIONS.get(Path(inner).suffix.lower())


def check_format(fmt: str | None) -> str | None:
    if not fmt:
        return None
    fmt = fmt.strip().lower()
    if fmt not in FORMATS:
        _fail(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def guess_format(filename: str, explicit: str | None) -> str:
    """The chosen format, else the one the file's name says (a .gz or .zip suffix is looked through).

    A bare data.zip gives "zip": the name of the file inside it decides, once it is opened (member_format).
    """
    fmt = check_format(explicit) or format_from_name(filename)
    if fmt is None and _split_name(Path(filename).name)[1] == "zip":
        return "zip"
    if fmt is None:
        _fail(
            f"cannot tell the format of {Path(filename).name!r} from its name; name it .csv, .tsv, .json, "
            ".jsonl or .parquet (optionally .gz or .zip), or choose the format"
        )
    return fmt


def member_format(path, filename: str, explicit: str | None) -> str:
    """The format of a stored file, looking inside a zip for the name of the file it holds."""
    fmt = guess_format(filename, explicit)
    if fmt != "zip":
        return fmt
    with open_plain(path, filename) as opened:
        inner = format_from_name(opened.name)
    if inner is None:
        _fail(
            f"cannot tell the format of {opened.name!r} inside the zip file from its name; name it .csv, .tsv, "
            ".json, .jsonl or .parquet, or choose the format"
        )
    return inner


def check_encoding(encoding: str | None) -> str:
    encoding = (encoding or "utf-8").strip() or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        _fail(
            f"unknown encoding {encoding!r}; for example utf-8, latin-1, cp1252 or utf-16", field="encoding"
        )
    return encoding


def check_delimiter(delimiter: str | None) -> str | None:
    if not delimiter:
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    delimiter = named.get(delimiter.lower(), delimiter)
    if delimiter not in DELIMITERS:
        _fail(
            "the delimiter must be one of: comma (,), tab, semicolon (;), vertical bar (|)", field="delimiter"
        )
    return delimiter


# --- compression ----------------------------------------------------------------------------------------------


class _Capped(io.RawIOBase):
    """A decompressing stream that stops at the size and ratio limits: a zip bomb ends here, early."""

    def __init__(self, inner, compressed_pos, what: str):
        self.inner = inner
        self.compressed_pos = compressed_pos  # how many compressed bytes were read so far
        self.what = what
        self.out = 0
        self.limit = settings.CHORUS_MAX_DECOMPRESSED_BYTES
        self.ratio = settings.CHORUS_MAX_COMPRESSION_RATIO

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.inner.read(len(buffer))
        except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:
            # A truncated download or a damaged file: say so, rather than "an internal error".
            _fail(f"{self.what} is damaged or cut short ({exc}); nothing was imported")
        n = len(data)
        buffer[:n] = data
        self.out += n
        if self.out > self.limit:
            _fail(
                f"{self.what} unpacks to more than {self.limit:,} bytes, the limit; nothing was imported "
                "(upload it uncompressed, or split it)"
            )
        packed = max(1, self.compressed_pos())
        # Small files may compress very well (a column of zeros); the ratio matters once there is bulk.
        if self.out > CHUNK and self.out / packed > self.ratio:
            _fail(
                f"{self.what} unpacks to more than {self.ratio} times its compressed size, which looks like "
                "a zip bomb; nothing was imported"
            )
        return n


@dataclass
class Opened:
    stream: io.BufferedIOBase  # the file's plain bytes
    name: str  # the name of what is inside (the zip member, or the name without .gz)
    size: int  # bytes of the file as stored (compressed when it is)
    position: object  # () -> bytes of the stored file read so far, for progress

    def fraction(self) -> float:
        return min(1.0, self.position() / self.size) if self.size else 1.0


@contextmanager
def open_plain(path, filename: str) -> Iterator[Opened]:
    """The file's plain bytes as a stream, decompressing gzip and zip on the fly within the limits."""
    path = Path(path)
    size = path.stat().st_size
    head = _head(path, 8)
    base, suffix = _split_name(Path(filename).name)
    raw = open(path, "rb")  # noqa: SIM115 - closed below
    try:
        if head.startswith(GZIP_MAGIC):
            inner = gzip.GzipFile(fileobj=raw, mode="rb")
            capped = _Capped(inner, raw.tell, "the gzip file")
            yield Opened(io.BufferedReader(capped, CHUNK), base, size, raw.tell)
        elif head.startswith(ZIP_MAGIC) and Path(base).suffix.lower() not in (".xlsx", ".docx"):
            try:
                archive = zipfile.ZipFile(raw)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                _fail(f"{Path(filename).name!r} is not a readable zip file ({exc}); nothing was imported")
            with archive:
                member = _only_member(archive, filename)
                _check_declared(member)
                inner = archive.open(member)
                # ZipExtFile counts down the compressed bytes left; read so far is the size minus that.
                capped = _Capped(inner, lambda: member.compress_size - inner._compress_left, "the zip file")
                yield Opened(io.BufferedReader(capped, CHUNK), member.filename, size, raw.tell)
        else:
            if suffix:
                _fail(f"{Path(filename).name!r} is named .{suffix} but is not a {suffix} file")
            yield Opened(raw, filename, size, raw.tell)
    finally:
        raw.close()


def content_sha256(path, filename: str) -> str:
    """SHA-256 of the file's plain bytes, through gzip or zip: what a file holds, whatever it is packed in."""
    digest = hashlib.sha256()
    with open_plain(path, filename) as opened:
        while chunk := opened.stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _only_member(archive: zipfile.ZipFile, filename: str) -> zipfile.ZipInfo:
    members = [
        m
        for m in archive.infolist()
        if not m.is_dir()
        and not m.filename.startswith("__MACOSX/")
        and not Path(m.filename).name.startswith(".")
    ]
    if len(members) != 1:
        names = ", ".join(m.filename for m in members[:5]) or "nothing"
        _fail(f"the zip file {Path(filename).name!r} must hold exactly one file; it holds {names}")
    if members[0].flag_bits & 0x1:
        _fail("the zip file is encrypted; upload it without a password")
    return members[0]


def _check_declared(member: zipfile.ZipInfo) -> None:
    """Refuse from the zip's own directory before unpacking a byte (the live check covers lying sizes)."""
    limit = settings.CHORUS_MAX_DECOMPRESSED_BYTES
    ratio = settings.CHORUS_MAX_COMPRESSION_RATIO
    if member.file_size > limit:
        _fail(f"the zip file unpacks to {member.file_size:,} bytes, more than the limit of {limit:,}")
    if member.file_size > CHUNK and member.file_size > ratio * max(1, member.compress_size):
        _fail(
            f"the zip file unpacks to {member.file_size // max(1, member.compress_size):,} times its "
            "compressed size, which looks like a zip bomb; nothing was imported"
        )


def sniff_type(head: bytes, fmt: str) -> None:
    """Refuse a file whose first bytes say it is something else (an image, a program, another archive)."""
    if fmt == "parquet":
        if not head.startswith(PARQUET_MAGIC):
            what = _what(head)
            _fail(f"the file is {what}, not Parquet" if what else "the file is not a Parquet file")
        return
    # The upload page has no format to choose (the name decides), so the way out is another file or name.
    if head.startswith(PARQUET_MAGIC):
        _fail(f"the file is a Parquet file, not {fmt.upper()}; name it .parquet and upload it again")
    what = _what(head)
    if what:
        _fail(
            f"the file is {what}, not {fmt.upper()}; upload the data itself as a CSV, TSV, JSON, JSONL or "
            "Parquet file (optionally .gz or .zip)"
        )
    # A stray NUL is the text's problem (reported on its line); many are a binary or UTF-16 file.
    if head.count(b"\x00") > len(head) // 10 and not head.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        _fail(
            f"the file has NUL bytes, so it is not a {fmt.upper()} text file in a one-byte encoding "
            "(choose utf-16 as the encoding if it is UTF-16)"
        )


def _what(head: bytes) -> str | None:
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    if head.startswith(ZIP_MAGIC):
        return "a zip archive of several files (an Excel workbook?)"
    return None


# --- text ------------------------------------------------------------------------------------------------------


def decoded_chunks(stream, encoding: str = "utf-8") -> Iterator[tuple[str, bool]]:
    """The file's text chunk by chunk (with whether it is the last), strictly decoded.

    A byte order mark at the very start is dropped; one anywhere else is text and is kept. An undecodable
    byte raises ImportFailed naming the encoding, the byte offset (from the start of the file, BOM included)
    and the line.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0  # bytes of the file handed to the decoder before this chunk
    newlines_before = 0
    first = True
    while True:
        chunk = stream.read(CHUNK)
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
            _fail(
                f"line {line}: the bytes at offset {at} ({bad}) are not valid {encoding} ({exc.reason}); "
                "choose the file's encoding (for example latin-1 or cp1252), or save it as UTF-8",
                line=line,
            )
        offset += len(chunk)
        newlines_before += chunk.count(b"\n")
        if first and text:
            first = False
            if text.startswith("\ufeff"):
                text = text[1:]
        yield text, final
        if final:
            return


def decoded_lines(stream, encoding: str = "utf-8") -> Iterator[str]:
    """Lines of the file, split on '\\n' only (so other line separators stay inside the text)."""
    pending = ""
    for text, _final in decoded_chunks(stream, encoding):
        if "\n" not in text:
            pending += text
            continue
        parts = (pending + text).split("\n")
        pending = parts.pop()
        for part in parts:
            yield part + "\n"
    if pending:
        yield pending


def csv_field_limit() -> int:
    """The most characters one CSV/TSV field may hold, the same in the import's preview, its checks and its
    fast path. The csv module's own default (128 Ki) would refuse texts we accept; four times the text
    limit lets a text just over CHORUS_MAX_TEXT_CHARS through the reader, to be refused by the importer
    with the text limit named, while a runaway field (a quote never closed) still stops the reader."""
    return 4 * settings.CHORUS_MAX_TEXT_CHARS


def _csv_reason(exc: csv.Error) -> str:
    """The csv module's message, in the words of someone who made the file rather than opened it in Python."""
    text = str(exc)
    if text.startswith("field larger than field limit"):
        return (
            f"a field is longer than {csv_field_limit():,} characters, the most one field may hold "
            "(is a quote left open?)"
        )
    if text.startswith("new-line character seen in unquoted field"):
        return (
            "a carriage return (\\r) outside quotes; quote the field, or save the file with \\n line endings"
        )
    if text == "unexpected end of data":
        return "a quoted field is not closed before the end of the file"
    return text


class _LineCounter:
    """Counts the physical lines handed to the csv reader, so records are reported by their first line."""

    def __init__(self, lines: Iterator[str]):
        self.lines = lines
        self.count = 0
        self.first: str | None = None

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.count += 1
        return line


def detect_delimiter(line: str) -> str:
    """The delimiter a header line uses most (outside quotes); a comma when it has none of them."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def csv_header(lines: Iterator[str], wanted: list[str], delimiter: str | None) -> tuple[list[str], int, str]:
    """A delimited file's header (names stripped), the line it ends on and the delimiter, checked as
    csv_records checks it (the importer's fast path reads the rest with pyarrow)."""
    header, line, delimiter, _, _ = _csv_start(lines, wanted, delimiter)
    return header, line, delimiter


def csv_records(lines: Iterator[str], wanted: list[str], delimiter: str | None) -> Iterator[tuple[int, dict]]:
    """(first line, record) of a delimited file; the header's problems and ragged rows are ImportFailed."""
    header, _, _, reader, counter = _csv_start(lines, wanted, delimiter)
    width = len(header)
    while True:
        start = counter.count + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            _fail(f"line {start}: this row cannot be read as CSV ({_csv_reason(exc)})", line=start)
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # a blank line
        if len(values) != width:
            _fail(
                f"line {start}: the row has {len(values)} field{'s' if len(values) != 1 else ''} but the header has {width}",
                line=start,
            )
        yield start, dict(zip(header, values, strict=True))


def _csv_start(lines: Iterator[str], wanted: list[str], delimiter: str | None):
    lines = iter(lines)
    # The delimiter is read off the first non-blank line: the header.
    buffered: list[str] = []
    for line in lines:
        buffered.append(line)
        if line.strip():
            break
    if not any(line.strip() for line in buffered):
        _fail("the file is empty")
    delimiter = delimiter or detect_delimiter(buffered[-1])

    def chained():
        yield from buffered
        yield from lines

    counter = _LineCounter(chained())
    # The limit is the csv module's, for the whole process: set here, where every reader is made, so no
    # reader depends on which code path happened to set it first.
    csv.field_size_limit(csv_field_limit())
    reader = csv.reader(counter, strict=True, delimiter=delimiter)
    header: list[str] = []
    while not any(h.strip() for h in header):  # blank lines before the header are not the header
        try:
            header = next(reader)
        except StopIteration:
            _fail("the file is empty")
        except csv.Error as exc:
            line = counter.count
            _fail(f"line {line}: the header cannot be read as CSV ({_csv_reason(exc)})", line=line)
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
        shown = ", ".join(header)
        if len(header) == 1 and delimiter != "\t" and "\t" in header[0]:
            shown += " (a single column: is the file tab-separated? choose the format tsv)"
        raise ImportFailed(
            [
                ImportProblem(
                    f"line {header_line}: the column {name!r} is not in the header (the columns are: {shown})",
                    line=header_line,
                    field=name,
                )
                for name in missing
            ]
        )
    return header, header_line, delimiter, reader, counter


JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def _object(record, line: int, unit: str = "line") -> dict:
    if not isinstance(record, dict):
        found = JSON_TYPES.get(type(record), "null")
        _fail(f"{unit} {line}: expected a JSON object, found {found}", line=line)
    return record


def jsonl_records(lines: Iterator[str]) -> Iterator[tuple[int, dict]]:
    seen_any = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        seen_any = True
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            _fail(f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})", line=number)
        yield number, _object(record, number)
    if not seen_any:
        _fail("the file is empty")


def json_array_records(stream, encoding: str) -> Iterator[tuple[int, dict]]:
    """The objects of a JSON array, decoded one at a time from a sliding buffer (never the whole file)."""
    decoder = json.JSONDecoder()
    text_chunks = (text for text, _ in decoded_chunks(stream, encoding))
    buf = ""
    pos = 0
    line = 1  # the line of buf[pos]
    eof = False

    def fill() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        chunk = next(text_chunks, None)
        if chunk is None:
            eof = True
            return False
        buf = buf[pos:] + chunk
        pos = 0
        return True

    def skip_space() -> str | None:
        nonlocal pos, line
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n":
                if buf[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buf):
                return buf[pos]
            if not fill():
                return None

    def error(message: str):
        _fail(f"line {line}: invalid JSON ({message})", line=line)

    first = skip_space()
    if first is None:
        _fail("the file is empty")
    if first != "[":
        if first == "{":
            error("the file holds one object, not an array of objects; choose jsonl if it has one per line")
        error("expected an array of objects: the file must start with [")
    pos += 1
    expect_value = True
    count = 0
    while True:
        ch = skip_space()
        if ch is None:
            error("the array is not closed with ] before the end of the file")
        if ch == "]" and (count == 0 or not expect_value):
            pos += 1
            break
        if not expect_value:
            if ch != ",":
                error(f"expected , or ] after an object, found {ch!r}")
            pos += 1
            expect_value = True
            continue
        while True:
            try:
                # An object ends at its }, so one cut by the chunk end fails to decode rather than decoding short.
                value, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as exc:
                if len(buf) - pos < MAX_JSON_OBJECT_CHARS and fill():
                    continue
                at_line = line + buf.count("\n", pos, exc.pos)
                _fail(f"line {at_line}: invalid JSON ({exc.msg})", line=at_line)
        count += 1
        start_line = line
        line += buf.count("\n", pos, end)
        pos = end
        expect_value = False
        yield start_line, _object(value, start_line)
    if skip_space() is not None:
        error("there is more after the array's closing ]")
    if count == 0:
        _fail("the file has no records")


def jsonable(value):
    """A Parquet value as JSON would hold it (dates as ISO text, decimals and bytes as text)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # A Parquet map column comes as a list of (key, value) pairs.
        return [jsonable(v) for v in value]
    return str(value)


def parquet_records(source, wanted: list[str]) -> Iterator[tuple[int, dict]]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
    except Exception as exc:  # pyarrow raises several kinds for a broken file
        _fail(f"the file cannot be read as Parquet ({exc})")
    names = parquet.schema_arrow.names
    missing = [w for w in wanted if w not in names]
    if missing:
        raise ImportFailed(
            [
                ImportProblem(
                    f"the column {name!r} is not in the file (the columns are: {', '.join(names)})",
                    field=name,
                )
                for name in missing
            ]
        )
    number = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH):
        for record in batch.to_pylist():
            number += 1
            yield number, {k: jsonable(v) for k, v in record.items()}
    if number == 0:
        _fail("the file has no rows")


def records(opened: Opened, fmt: str, wanted: list[str], encoding: str, delimiter: str | None):
    """(line, record) pairs of an opened file; Parquet numbers rows, the text formats name lines."""
    stream = opened.stream
    head = stream.peek(4096)[:4096] if hasattr(stream, "peek") else b""
    sniff_type(head, fmt)
    if fmt == "parquet":
        if not stream.seekable():
            # Parquet reads its footer first: an archived one is unpacked to a spooled temporary file.
            import tempfile

            spooled = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115 - lives with the read
            while chunk := stream.read(CHUNK):
                spooled.write(chunk)
            spooled.seek(0)
            stream = spooled
        return parquet_records(stream, wanted)
    if fmt == "json":
        return json_array_records(stream, encoding)
    lines = decoded_lines(stream, encoding)
    if fmt == "jsonl":
        return jsonl_records(lines)
    return csv_records(lines, wanted, delimiter or ("\t" if fmt == "tsv" else None))


def unit(fmt: str) -> str:
    return "row" if fmt == "parquet" else "line"
