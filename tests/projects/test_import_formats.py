"""Import formats, compression, encodings, duplicates and metadata fields, through the job path."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import override_settings

from projects import services
from projects.models import Annotation, ImportJob, Sample
from tests.conftest import make_project
from tests.projects.test_import import failed, samples, upload


@pytest.fixture
def user(alice):
    return alice


@pytest.fixture
def ham_spam(alice):
    return make_project(alice, name="Formats", labels=("HAM", "SPAM"))


def texts(project):
    return [s.text for s in samples(project)]


def parquet_bytes(columns: dict) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


# --- formats ----------------------------------------------------------------------------------------------------


def test_a_tsv_file_is_split_on_tabs_and_keeps_commas_in_the_text(ham_spam, user):
    job = upload(ham_spam, user, "id\ttext\na\thello, world\nb\tbye\n", name="s.tsv", id_field="id")
    assert job.status == "done", job.errors
    assert texts(ham_spam) == ["hello, world", "bye"]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_of_a_csv_is_detected_from_its_header(ham_spam, user, delimiter):
    content = f"id{delimiter}text\n1{delimiter}a, b\n2{delimiter}c\n"
    job = upload(ham_spam, user, content, id_field="id")
    assert job.status == "done", job.errors
    assert texts(ham_spam) == ["a, b", "c"]


def test_a_chosen_delimiter_wins_over_the_detected_one(ham_spam, user):
    # The header has more commas than semicolons, but the file is semicolon-separated.
    job = upload(ham_spam, user, "text;note\na,b,c;x\n", delimiter=";")
    assert job.status == "done", job.errors
    assert texts(ham_spam) == ["a,b,c"]
    assert samples(ham_spam)[0].fields == {"note": "x"}


def test_a_json_array_of_objects_is_imported(ham_spam, user):
    records = [{"id": 1, "text": "first", "label": "SPAM"}, {"id": 2, "text": "second\nline", "label": "HAM"}]
    content = json.dumps(records, indent=2, ensure_ascii=False)
    job = upload(ham_spam, user, content, name="s.json", id_field="id", label_field="label")
    assert job.status == "done", job.errors
    assert [(s.external_id, s.text, s.gold_label) for s in samples(ham_spam)] == [
        ("1", "first", 1),
        ("2", "second\nline", 0),
    ]


def test_invalid_json_in_an_array_names_its_line(ham_spam, user):
    content = '[\n  {"text": "ok"},\n  {"text": "broken",,}\n]\n'
    problem = failed(ham_spam, user, content, name="bad.json")
    assert problem["line"] == 3
    assert problem["message"].startswith("line 3: invalid JSON")


def test_a_json_file_that_is_not_an_array_is_explained(ham_spam, user):
    problem = failed(ham_spam, user, '{"text": "one"}\n{"text": "two"}\n', name="bad.json")
    assert "not an array of objects; choose jsonl" in problem["message"]


def test_a_parquet_file_is_imported_with_its_other_columns_as_fields(ham_spam, user):
    data = parquet_bytes(
        {"id": [10, 11], "text": ["héllo 👋", "bye"], "y": ["SPAM", None], "score": [0.5, 1.5]}
    )
    job = upload(ham_spam, user, data, name="s.parquet", id_field="id", label_field="y")
    assert job.status == "done", job.errors
    got = [(s.external_id, s.text, s.gold_label, s.fields) for s in samples(ham_spam)]
    assert got == [
        ("10", "héllo 👋", 1, {"id": 10, "score": 0.5}),
        ("11", "bye", None, {"id": 11, "score": 1.5}),
    ]


def test_a_parquet_file_without_the_text_column_names_the_columns(ham_spam, user):
    problem = failed(ham_spam, user, parquet_bytes({"body": ["x"]}), name="s.parquet")
    assert problem == {
        "message": "the column 'text' is not in the file (the columns are: body)",
        "field": "text",
    }


def test_gzip_and_zip_files_are_unpacked(ham_spam, user):
    job = upload(ham_spam, user, gzip.compress(b"text\nfrom gzip\n"), name="a.csv.gz")
    assert job.status == "done", job.errors
    job = upload(ham_spam, user, zipped("inner.jsonl", b'{"text": "from zip"}\n'), name="b.zip")
    assert job.status == "done", job.errors
    parquet = parquet_bytes({"text": ["parquet in a zip"]})
    job = upload(ham_spam, user, zipped("c.parquet", parquet), name="c.zip")
    assert job.status == "done", job.errors
    assert texts(ham_spam) == ["from gzip", "from zip", "parquet in a zip"]


def test_a_zip_bomb_is_refused_and_writes_nothing(ham_spam, user):
    bomb = zipped("big.csv", b"text\n" + b"a" * 20_000_000)
    problem = failed(ham_spam, user, bomb, name="bomb.zip")
    assert "looks like a zip bomb" in problem["message"]


def test_a_gzip_bomb_is_stopped_while_unpacking(ham_spam, user):
    bomb = gzip.compress(b"text\n" + b"a\n" * 10_000_000)
    problem = failed(ham_spam, user, bomb, name="bomb.csv.gz")
    assert "looks like a zip bomb" in problem["message"]


def test_a_cut_short_or_damaged_compressed_file_is_named_and_writes_nothing(ham_spam, user):
    whole = gzip.compress(b"text\n" + b"a line of text\n" * 2000)
    problem = failed(ham_spam, user, whole[: len(whole) // 2], name="cut.csv.gz")
    assert problem["message"].startswith("the gzip file is damaged or cut short")
    problem = failed(ham_spam, user, b"\x1f\x8b\x08\x00garbage", name="bad.csv.gz")
    assert problem["message"].startswith("the gzip file is damaged or cut short")
    problem = failed(ham_spam, user, b"PK\x03\x04garbage", name="bad.zip")
    assert problem["message"].startswith("'bad.zip' is not a readable zip file")
    assert texts(ham_spam) == []


@override_settings(CHORUS_MAX_DECOMPRESSED_BYTES=1000)
def test_a_compressed_file_over_the_unpacked_limit_is_refused(ham_spam, user):
    problem = failed(ham_spam, user, zipped("s.csv", b"text\n" + b"word\n" * 500), name="s.zip")
    assert problem["message"] == "the zip file unpacks to 2,505 bytes, more than the limit of 1,000"


def test_a_zip_of_several_files_is_refused(ham_spam, user):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.csv", "text\na\n")
        archive.writestr("b.csv", "text\nb\n")
    problem = failed(ham_spam, user, out.getvalue(), name="two.zip")
    assert problem["message"] == "the zip file 'two.zip' must hold exactly one file; it holds a.csv, b.csv"


def test_a_file_of_another_type_is_named_for_what_it_is(ham_spam, user):
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    problem = failed(ham_spam, user, png, name="photo.csv")
    assert problem["message"] == (
        "the file is a PNG image, not CSV; upload the data itself as a CSV, TSV, JSON, JSONL or Parquet file "
        "(optionally .gz or .zip)"
    )
    problem = failed(ham_spam, user, b"PAR1" + bytes(200) + b"PAR1", name="rows.csv")
    assert problem["message"] == "the file is a Parquet file, not CSV; name it .parquet and upload it again"
    problem = failed(ham_spam, user, b"text\nnot parquet\n", name="s.parquet")
    assert problem["message"] == "the file is not a Parquet file"


# --- encodings --------------------------------------------------------------------------------------------------


def test_a_chosen_encoding_such_as_latin1_reads_the_file(ham_spam, user):
    job = upload(ham_spam, user, "text\ncafé crème\n".encode("latin-1"), encoding="latin-1")
    assert job.status == "done", job.errors
    assert texts(ham_spam) == ["café crème"]


def test_undecodable_bytes_suggest_choosing_the_encoding(ham_spam, user):
    problem = failed(ham_spam, user, "text\nok\ncafé\n".encode("latin-1"))
    assert problem["message"] == (
        "line 3: the bytes at offset 11 (e9) are not valid utf-8 (invalid continuation byte); "
        "choose the file's encoding (for example latin-1 or cp1252), or save it as UTF-8"
    )


def test_an_unknown_encoding_is_refused_before_a_job_is_made(ham_spam, user):
    with pytest.raises(services.ServiceError) as exc:
        upload(ham_spam, user, "text\na\n", encoding="klingon")
    assert (exc.value.field, exc.value.message) == (
        "encoding",
        "unknown encoding 'klingon'; for example utf-8, latin-1, cp1252 or utf-16",
    )
    assert not ImportJob.objects.exists()


def test_utf16_with_its_bom_is_read_when_chosen(ham_spam, user):
    job = upload(ham_spam, user, "text\nñandú 🐦\n".encode("utf-16"), encoding="utf-16")
    assert job.status == "done", job.errors
    assert texts(ham_spam) == ["ñandú 🐦"]


# --- limits -----------------------------------------------------------------------------------------------------


@override_settings(CHORUS_MAX_TEXT_CHARS=10)
def test_a_text_longer_than_the_limit_names_its_line_and_writes_nothing(ham_spam, user):
    problem = failed(ham_spam, user, "text\nshort\n" + "x" * 11 + "\n")
    assert problem == {
        "message": "line 3: the text has 11 characters, more than the limit of 10",
        "line": 3,
        "field": "text",
    }


@override_settings(CHORUS_MAX_TEXT_CHARS=3)
def test_the_text_limit_counts_code_points_not_bytes(ham_spam, user):
    job = upload(ham_spam, user, "text\n👍🏽é\n")  # three code points, eleven bytes
    assert job.status == "done", job.errors


# --- duplicates -------------------------------------------------------------------------------------------------


def ids_file(ids, text="new {}", label=None) -> str:
    rows = "".join(f"{i},{text.format(i)},{label or ''}\n" for i in ids)
    return "id,text,label\n" + rows


def test_duplicates_can_be_skipped_and_are_reported(ham_spam, user):
    upload(ham_spam, user, ids_file(range(10), text="old {}"), id_field="id")
    job = upload(ham_spam, user, ids_file(range(20)), id_field="id", on_duplicate="skip")
    assert job.status == "done", job.errors
    assert (job.imported, job.skipped, job.updated) == (10, 10, 0)
    assert job.report == "Imported 10 samples; 10 duplicates skipped"
    got = [(s.row, s.external_id, s.text) for s in samples(ham_spam)]
    assert got[:10] == [(i, str(i), f"old {i}") for i in range(10)]
    # New samples continue the dense row index, with no gaps for the skipped ones.
    assert got[10:] == [(10 + i, str(10 + i), f"new {10 + i}") for i in range(10)]


def test_an_updated_sample_keeps_its_hand_labels(ham_spam, user, bob):
    upload(ham_spam, user, ids_file(["a", "b"], text="old {}"), id_field="id")
    a = Sample.objects.get(project=ham_spam, external_id="a")
    services.annotate(project=ham_spam, sample=a, user=user, label=1)
    job = upload(
        ham_spam,
        user,
        ids_file(["a", "c"], text="new {}", label="SPAM"),
        id_field="id",
        label_field="label",
        on_duplicate="update",
    )
    assert job.status == "done", job.errors
    assert (job.imported, job.updated, job.skipped) == (1, 1, 0)
    assert job.report == "Imported 1 sample; 1 with a label; 1 duplicate updated"
    a.refresh_from_db()
    assert (a.row, a.text, a.gold_label) == (0, "new a", 1)
    assert list(a.annotations.order_by("source").values_list("source", "annotator__username", "label")) == [
        ("human", "alice", 1),
        ("import", None, 1),
    ]
    assert Sample.objects.get(project=ham_spam, external_id="b").text == "old b"


def test_an_updated_label_that_disagrees_with_a_hand_label_leaves_no_gold(ham_spam, user):
    upload(ham_spam, user, ids_file(["a"]), id_field="id")
    a = Sample.objects.get(project=ham_spam, external_id="a")
    services.annotate(project=ham_spam, sample=a, user=user, label=0)
    job = upload(
        ham_spam,
        user,
        ids_file(["a"], label="SPAM"),
        id_field="id",
        label_field="label",
        on_duplicate="update",
    )
    assert job.status == "done", job.errors
    a.refresh_from_db()
    assert a.gold_label is None and a.disputed
    assert Annotation.objects.get(sample=a, annotator=user).label == 0


def test_duplicates_fail_the_import_by_default(ham_spam, user):
    upload(ham_spam, user, ids_file(["a"]), id_field="id")
    problem = failed(ham_spam, user, ids_file(["b", "a"]), id_field="id")
    assert problem["line"] == 3 and problem["field"] == "id"
    assert "choose on_duplicate skip or update" in problem["message"]


def test_an_unknown_on_duplicate_is_refused(ham_spam, user):
    with pytest.raises(services.ServiceError) as exc:
        upload(ham_spam, user, "text\na\n", on_duplicate="merge")
    assert exc.value.field == "on_duplicate"
    assert exc.value.message == "unknown on_duplicate 'merge'; choose one of fail, skip, update"


# --- fields -----------------------------------------------------------------------------------------------------


def test_only_the_chosen_metadata_fields_are_kept(ham_spam, user):
    content = "id,text,author,url,secret\n1,hi,ann,http://x,pw\n"
    job = upload(ham_spam, user, content, id_field="id", metadata_fields=["author", "url"])
    assert job.status == "done", job.errors
    assert samples(ham_spam)[0].fields == {"author": "ann", "url": "http://x"}


def test_a_metadata_field_the_file_lacks_is_refused(ham_spam, user):
    problem = failed(ham_spam, user, "text,author\nhi,ann\n", metadata_fields=["author", "lang"])
    assert problem["field"] == "lang"
    assert problem["message"].startswith("line 1: the column 'lang' is not in the header")


def test_errors_are_a_list_of_objects_with_message_line_and_field(ham_spam, user):
    job = upload(ham_spam, user, "text,label\na,HAM\n,SPAM\nc,EGGS\n", label_field="label")
    assert job.status == "failed"
    assert job.errors == [
        {"message": "line 3: the text field 'text' is empty", "line": 3, "field": "text"},
        {
            "message": "line 4: label 'EGGS' is not one of the project's classes (HAM, SPAM); "
            "map it to one with label_map",
            "line": 4,
            "field": "label",
        },
    ]
    assert not Sample.objects.filter(project=ham_spam).exists()


def test_text_with_emoji_zwj_and_decomposed_accents_is_stored_exactly(ham_spam, user):
    text = "👩\u200d💻 cafe\u0301 \r\n ﬁ \u00a0 ok"
    for name, content in (
        ("a.jsonl", json.dumps({"text": text}) + "\n"),
        ("b.json", json.dumps([{"text": text}])),
        ("c.parquet", parquet_bytes({"text": [text]})),
    ):
        job = upload(ham_spam, user, content, name=name)
        assert job.status == "done", job.errors
    assert texts(ham_spam) == [text, text, text]
