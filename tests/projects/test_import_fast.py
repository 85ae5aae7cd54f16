"""The pyarrow fast path of CSV/TSV imports (projects.fast_import): it stores exactly what the precise Python
path stores, and hands every file it could read differently to that path."""

from __future__ import annotations

import pyarrow as pa
import pytest

from projects import fast_import, importer, services
from projects.models import Annotation, Sample
from tests.conftest import make_project

BOM = b"\xef\xbb\xbf"

# Valid, and awkward: doubled quotes, newlines and \r\n inside quotes, a BOM, \r\n line endings, a blank line,
# emoji and ZWJ sequences, decomposed accents, a BOM inside a text, labels needing the map, split aliases,
# JSON-special characters and control characters in kept fields, empty values, a delimiter inside quotes.
TRICKY = (
    BOM
    + (
        "id,text,label,part,note\r\n"
        'a1,"He said ""hi"", then left",spam,train,"tab\there"\r\n'
        'a2,"two\nlines\r\nand a \\ backslash",HAM ,valid,"quote "" and \\ and \x01"\r\n'
        "\r\n"
        "a3,👩‍👩‍👧 family café,,Test,\r\n"
        'a4,"e\u0301, comma",1,,\ufeffzero width\r\n'
        'a5,plain,0,dev,"{""json"": [1, 2]}"\r\n'
    ).encode()
)
OPTIONS = {
    "text_field": "text",
    "id_field": "id",
    "label_field": "label",
    "split_field": "part",
    "label_map": {"spam": "SPAM", "1": "SPAM", "0": "HAM"},
}


def _import(project, path, name, options, fast: bool, monkeypatch):
    monkeypatch.setattr(importer, "FAST", fast)
    clean = services.validate_import_options(project, options)
    opts = importer.ImportOptions.from_dict(clean)
    plan = importer.check(path, name, opts, project)
    assert (plan.fast is not None) == fast
    return importer.write(project, path, name, opts, plan)


def _stored(project):
    samples = Sample.objects.filter(project=project).order_by("row")
    rows = list(samples.values_list("row", "external_id", "text", "fields", "split", "gold_label", "queued"))
    labels = sorted(
        Annotation.objects.filter(project=project).values_list("sample__external_id", "source", "label")
    )
    return rows, labels


def test_fast_and_precise_paths_store_the_same_samples(alice, tmp_path, monkeypatch):
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY)
    results = []
    for fast in (True, False):
        project = make_project(alice, name=f"fast {fast}", labels=("HAM", "SPAM"))
        result = _import(project, path, "tricky.csv", OPTIONS, fast, monkeypatch)
        results.append(((result.imported, result.labels_imported), _stored(project)))
    assert results[0] == results[1]
    (counts, (rows, labels)) = results[0]
    assert counts == (5, 4)
    assert rows[0][2] == 'He said "hi", then left'
    assert rows[1][2] == "two\nlines\r\nand a \\ backslash"
    assert rows[1][3]["note"] == 'quote " and \\ and \x01'
    assert rows[2][2] == "👩\u200d👩\u200d👧 family café" and rows[2][4] == "test"
    assert rows[3][3]["note"] == "\ufeffzero width"
    assert [r[5] for r in rows] == [1, 0, None, 1, 0]


def test_fast_path_without_an_id_field_numbers_rows_and_draws_splits(alice, tmp_path, monkeypatch):
    path = tmp_path / "s.tsv"
    path.write_text("text\tsource\n" + "".join(f"message {i}\tweb\n" for i in range(300)), encoding="utf-8")
    stored = []
    for fast in (True, False):
        project = make_project(alice, name=f"tsv {fast}", labels=("HAM", "SPAM"))
        _import(project, path, "s.tsv", {"text_field": "text"}, fast, monkeypatch)
        # A second file appends after the first: rows and row-number ids go on from there.
        _import(project, path, "s.tsv", {"text_field": "text"}, fast, monkeypatch)
        stored.append(_stored(project))
    assert stored[0] == stored[1]
    rows = stored[0][0]
    assert [r[0] for r in rows] == list(range(600)) and rows[-1][1] == "599"
    assert {r[4] for r in rows} == {"train", "dev", "test"}


def test_duplicates_are_skipped_or_updated_on_the_fast_path(alice, tmp_path, monkeypatch):
    project = make_project(alice, labels=("HAM", "SPAM"))
    first = tmp_path / "a.csv"
    first.write_text("id,text,label\nx1,old one,HAM\nx2,old two,\n", encoding="utf-8")
    _import(
        project,
        first,
        "a.csv",
        {"text_field": "text", "id_field": "id", "label_field": "label"},
        True,
        monkeypatch,
    )
    second = tmp_path / "b.csv"
    second.write_text("id,text,label\nx2,new two,SPAM\nx3,three,HAM\nx1,new one,HAM\n", encoding="utf-8")
    options = {"text_field": "text", "id_field": "id", "label_field": "label", "on_duplicate": "update"}
    result = _import(project, second, "b.csv", options, True, monkeypatch)
    assert (result.imported, result.updated, result.skipped) == (1, 2, 0)
    texts = dict(Sample.objects.filter(project=project).values_list("external_id", "text"))
    assert texts == {"x1": "new one", "x2": "new two", "x3": "three"}
    assert Sample.objects.get(project=project, external_id="x2").gold_label == 1
    result = _import(project, second, "b.csv", {**options, "on_duplicate": "skip"}, True, monkeypatch)
    assert (result.imported, result.skipped) == (0, 3)


def test_a_clash_on_the_fast_path_is_named_by_line_as_on_the_slow_one(alice, tmp_path, monkeypatch):
    project = make_project(alice, labels=("HAM", "SPAM"))
    path = tmp_path / "a.csv"
    path.write_text("id,text\nx1,one\nx2,two\n", encoding="utf-8")
    _import(project, path, "a.csv", {"text_field": "text", "id_field": "id"}, True, monkeypatch)
    with pytest.raises(importer.ImportFailed) as failed:
        _import(project, path, "a.csv", {"text_field": "text", "id_field": "id"}, True, monkeypatch)
    assert [p.as_dict()["line"] for p in failed.value.problems] == [2, 3]
    assert "is already in the project" in failed.value.problems[0].message
    assert Sample.objects.filter(project=project).count() == 2


@pytest.mark.parametrize(
    "body, why",
    [
        (b'id,text\n"a"b,x\n', "closing quote followed by more"),
        (b'id,text\na,"x" \n', "closing quote followed by more"),
        (b'id,text\na,x"y\n', "quote in an unquoted field"),
        (b'id,text\na,"a"""b"\n', "closing quote followed by more"),
        (b"id,text\na,x\rb,y\n", "carriage return"),
        (b"id,text\na,x\n   \nb,y\n", "pyarrow"),
        (b"id,text\na,\x1c\n", "blank text"),
        (b"id,text\na,x\nb,y,z\n", "pyarrow"),
        (b"id,text\na,x\na,y\n", "repeated id"),
        (b"id,text\na,x\x00y\n", "NUL"),
        # Past the first MiB (the header's read decodes that much itself, and names the offset).
        (b"id,text\n" + b"a,x\n" * 300_000 + b"b,\xff\n", "pyarrow"),
        (b"id,text\n", "no rows"),
    ],
)
def test_files_the_readers_could_take_differently_go_to_the_precise_path(alice, tmp_path, body, why):
    project = make_project(alice, labels=("HAM", "SPAM"))
    path = tmp_path / "f.csv"
    path.write_bytes(body)
    opts = importer.ImportOptions.from_dict(
        services.validate_import_options(project, {"text_field": "text", "id_field": "id"})
    )
    with pytest.raises(fast_import.NotFast, match=why):
        fast_import.check(path, "f.csv", opts, project, "csv")


def test_quotes_split_across_read_chunks_are_followed(tmp_path):
    # The scanner sees the file in pieces; a doubled quote or a closing quote at a piece's end is judged with
    # the next piece.
    data = b'a,b\n"x""y","z"\n'
    for cut in range(1, len(data)):
        scanned = fast_import._Scanned(_Pieces([data[:cut], data[cut:]]), ",")
        while scanned.read(1 << 20):
            pass
        assert scanned.problem is None, cut
    bad = b'a,b\n"x"y,z\n'
    for cut in range(1, len(bad)):
        scanned = fast_import._Scanned(_Pieces([bad[:cut], bad[cut:]]), ",")
        while scanned.read(1 << 20):
            pass
        assert scanned.problem, cut


class _Pieces:
    def __init__(self, pieces):
        self.pieces = list(pieces)

    def read(self, n):
        return self.pieces.pop(0) if self.pieces else b""


def test_seeded_splits_in_bulk_are_the_same_draw_as_one_at_a_time():
    ids = [f"s{i}" for i in range(50_000)] + ["é", "👩‍👧", ""]
    for seed, ratios in ((0, (0.8, 0.1, 0.1)), (7, (0.5, 0.25, 0.25)), (3, (1.0, 0.0, 0.0))):
        names = ["train", "dev", "test"]
        expected = [importer.seeded_split(i, seed, ratios) for i in ids]
        assert [names[c] for c in fast_import.seeded_codes(ids, seed, ratios)] == expected
        # From an Arrow column's bytes, sliced or in chunks, as the fast path calls it.
        column = pa.array(ids, pa.string())
        assert [names[c] for c in fast_import.seeded_codes(column, seed, ratios)] == expected
        sliced = fast_import.seeded_codes(column.slice(7, 100), seed, ratios)
        assert [names[c] for c in sliced] == expected[7:107]
        chunked = pa.chunked_array([column.slice(0, 10), column.slice(10)])
        assert [names[c] for c in fast_import.seeded_codes(chunked, seed, ratios)] == expected


def test_foreign_key_triggers_are_skipped_for_the_copy_alone(alice, tmp_path, monkeypatch):
    from django.db import connection, transaction

    project = make_project(alice, labels=("HAM", "SPAM"))
    path = tmp_path / "a.csv"
    path.write_text("id,text,label\nx1,one,HAM\nx2,two,\n", encoding="utf-8")
    with transaction.atomic():
        _import(
            project,
            path,
            "a.csv",
            {"text_field": "text", "id_field": "id", "label_field": "label"},
            True,
            monkeypatch,
        )
        with connection.cursor() as cursor:
            cursor.execute("SHOW session_replication_role")
            # Put back at once: the rest of the transaction (and of the session) checks its keys.
            assert cursor.fetchone()[0] == "origin"
    # The test database's role (a superuser) may skip them; the keys the COPY wrote are sound.
    assert fast_import.last_keys_unchecked
    assert Annotation.objects.get(sample__external_id="x1", project=project).sample.project_id == project.pk


def test_blank_means_what_str_strip_leaves_empty():
    import pyarrow as pa
    import pyarrow.compute as pc

    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    others = [chr(c) for c in range(0x3001) if not chr(c).isspace() and not 0xD800 <= c < 0xE000] + ["👩"]
    values = ["", "".join(spaces)] + spaces + others + [f" {o}\t" for o in others[:200]]
    blank = pc.invert(pc.match_substring_regex(pa.array(values), fast_import.NOT_BLANK)).to_pylist()
    assert blank == [not v.strip() for v in values]


def test_a_file_changed_between_the_passes_writes_nothing(alice, tmp_path, monkeypatch):
    project = make_project(alice, labels=("HAM", "SPAM"))
    path = tmp_path / "a.csv"
    path.write_text("id,text\nx1,one\nx2,two\n", encoding="utf-8")
    opts = importer.ImportOptions.from_dict(
        services.validate_import_options(project, {"text_field": "text", "id_field": "id"})
    )
    plan = importer.check(path, "a.csv", opts, project)
    assert plan.fast is not None
    for changed in ("id,text\nx1,one\nx2,two\nx3,three\n", "id,text\nx1,one\n", "id,text\nx1,one\nx2,\n"):
        path.write_text(changed, encoding="utf-8")
        with pytest.raises(importer.ImportFailed, match="the file changed while it was being imported"):
            importer.write(project, path, "a.csv", opts, plan)
        assert not Sample.objects.filter(project=project).exists()
