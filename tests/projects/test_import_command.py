"""`manage.py import_samples`: the synchronous, all-or-nothing import from the command line."""

from __future__ import annotations

import gzip
import zipfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from projects.models import Annotation, Sample
from tests.conftest import make_samples


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_samples", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fails(*args):
    before = (Sample.objects.count(), Annotation.objects.count())
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_samples", *[str(a) for a in args], stdout=out, stderr=err)
    assert (Sample.objects.count(), Annotation.objects.count()) == before, "a failed import writes nothing"
    assert out.getvalue() == ""
    return str(exc.value), err.getvalue()


@pytest.fixture
def comments(tmp_path):
    path = tmp_path / "comments.csv"
    path.write_text("COMMENT_ID,CONTENT,CLASS\nc1,check out my channel,1\nc2,great song,0\nc3,no label,\n")
    return path


def test_it_imports_a_csv_and_says_how_many(project, comments):
    out, err = run(
        project.pk,
        comments,
        "--text-field",
        "CONTENT",
        "--id-field",
        "COMMENT_ID",
        "--label-field",
        "CLASS",
        "--label-map",
        '{"0": "HAM", "1": "SPAM"}',
    )
    assert out == "Imported 3 samples (2 hand labels) into Spam\n"
    assert err == ""
    got = list(Sample.objects.filter(project=project).values_list("external_id", "text", "gold_label"))
    assert got == [("c1", "check out my channel", 1), ("c2", "great song", 0), ("c3", "no label", None)]
    assert Annotation.objects.filter(project=project, source="import").count() == 2


def test_it_imports_jsonl_with_a_split_field(project, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"t": "a", "s": "dev"}\n{"t": "b", "s": "test"}\n')
    out, _ = run(project.pk, path, "--text-field", "t", "--split-field", "s")
    assert out == "Imported 2 samples (0 hand labels) into Spam\n"
    assert list(Sample.objects.filter(project=project).values_list("text", "split")) == [
        ("a", "dev"),
        ("b", "test"),
    ]


def test_the_format_option_reads_a_file_of_any_name(project, tmp_path):
    path = tmp_path / "dump.txt"
    path.write_text('{"t": "a"}\n')
    out, _ = run(project.pk, path, "--text-field", "t", "--format", "jsonl")
    assert out.startswith("Imported 1 samples")


def test_it_continues_the_row_index_of_earlier_samples(project, comments):
    make_samples(project, ["already here"])
    run(project.pk, comments, "--text-field", "CONTENT")
    assert list(Sample.objects.filter(project=project).values_list("row", flat=True)) == [0, 1, 2, 3]


def test_each_problem_is_printed_with_its_line_and_field(project, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("CONTENT,CLASS\n,0\nfine,7\nok,1\n")
    message, err = fails(
        project.pk,
        path,
        "--text-field",
        "CONTENT",
        "--label-field",
        "CLASS",
        "--label-map",
        '{"0": "HAM", "1": "SPAM"}',
    )
    assert err.splitlines() == [
        f"{path}: line 2: the text field 'CONTENT' is empty [field CONTENT]",
        f"{path}: line 3: label '7' is not one of the project's classes (HAM, SPAM); add it to label_map [field CLASS]",
    ]
    assert message == f"nothing was imported from {path}; fix the problems above"


def test_a_missing_column_is_reported(project, comments):
    _, err = fails(project.pk, comments, "--text-field", "text")
    assert "line 1: the column 'text' is not in the header" in err


def test_undecodable_bytes_are_reported_with_offset_and_line(project, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"text\ncaf\xe9\n")
    _, err = fails(project.pk, path, "--text-field", "text")
    assert "line 2: the bytes at offset 8 (e9) are not valid utf-8" in err


def test_a_duplicate_id_is_reported(project, tmp_path):
    path = tmp_path / "dupes.csv"
    path.write_text("id,text\na,x\na,y\n")
    _, err = fails(project.pk, path, "--text-field", "text", "--id-field", "id")
    assert "line 3: duplicate id 'a' (first seen on line 2)" in err


def test_an_empty_file_is_reported(project, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    _, err = fails(project.pk, path, "--text-field", "text")
    assert err == f"{path}: the file is empty\n"


def test_a_bad_label_map_is_refused(project, comments):
    message, _ = fails(project.pk, comments, "--text-field", "CONTENT", "--label-map", "{0: HAM}")
    assert message.startswith("--label-map is not valid JSON")
    message, _ = fails(project.pk, comments, "--text-field", "CONTENT", "--label-map", '{"0": "EGGS"}')
    assert message.startswith("--label-map: label_map names classes the project does not have: EGGS")


def test_an_unknown_project_or_file_is_refused(project, comments, tmp_path):
    message, _ = fails(project.pk + 1000, comments, "--text-field", "CONTENT")
    assert message == f"there is no project {project.pk + 1000}"
    message, _ = fails(project.pk, tmp_path / "nope.csv", "--text-field", "CONTENT")
    assert message == f"{tmp_path / 'nope.csv'}: no such file"


def test_the_text_field_is_required(project, comments):
    with pytest.raises(CommandError, match="--text-field"):
        call_command("import_samples", str(project.pk), str(comments))


def test_it_skips_duplicates_reads_latin1_tsv_and_keeps_chosen_fields(project, tmp_path):
    first = tmp_path / "first.tsv"
    first.write_bytes("id\ttext\tlang\tjunk\na\tcafé\tfr\tx\n".encode("latin-1"))
    run(project.pk, first, "--text-field", "text", "--id-field", "id", "--encoding", "latin-1")
    second = tmp_path / "second.tsv.gz"
    second.write_bytes(gzip.compress(b"id\ttext\tlang\tjunk\na\tchanged\tfr\tx\nb\tnuevo\tes\ty\n"))
    out, _ = run(
        project.pk,
        second,
        "--text-field",
        "text",
        "--id-field",
        "id",
        "--on-duplicate",
        "skip",
        "--metadata-fields",
        "lang",
    )
    assert out.strip() == f"Imported 1 samples (0 hand labels) into {project.name}; 1 duplicate skipped"
    got = list(Sample.objects.filter(project=project).values_list("external_id", "text", "fields"))
    assert got == [("a", "café", {"id": "a", "lang": "fr", "junk": "x"}), ("b", "nuevo", {"lang": "es"})]


def test_a_zip_bomb_is_refused_on_the_command_line(project, tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", b"text\n" + b"0" * 30_000_000)
    message, err = fails(project.pk, bomb, "--text-field", "text")
    assert "looks like a zip bomb" in err
    assert message == f"nothing was imported from {bomb}; fix the problems above"


def test_a_chorus_jsonl_export_reimports_with_fields_field(project, tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(
        '{"sample_id": 9, "external_id": "x1", "text": "hi", "fields": {"likes": 3}, "split": "dev", '
        '"predicted_label": "HAM", "hand_label": "SPAM"}\n'
    )
    out, _ = run(
        project.pk,
        path,
        "--text-field",
        "text",
        "--id-field",
        "external_id",
        "--split-field",
        "split",
        "--label-field",
        "hand_label",
        "--fields-field",
        "fields",
    )
    got = list(
        Sample.objects.filter(project=project).values_list("external_id", "fields", "split", "gold_label")
    )
    assert got == [("x1", {"likes": 3}, "dev", 1)]
