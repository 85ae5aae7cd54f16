"""Importing samples through the job path (services.start_import + services.run_import): what lands, exactly."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects import importer, services
from projects.models import Annotation, ImportJob, Sample
from tests.conftest import make_project, make_samples

BOM = b"\xef\xbb\xbf"


def upload(project, user, content: bytes | str, name="samples.csv", **options):
    """Upload a file and carry out its import as the worker would; returns the finished job."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    options.setdefault("text_field", "text")
    job = services.start_import(
        project=project, user=user, upload=SimpleUploadedFile(name, data), options=options
    )
    services.run_import(job.pk)
    return ImportJob.objects.get(pk=job.pk)


def samples(project):
    return list(Sample.objects.filter(project=project).order_by("row"))


def jsonl(*records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


@pytest.fixture
def user(alice):
    return alice


@pytest.fixture
def ham_spam(alice):
    return make_project(alice, name="YouTube comments", labels=("HAM", "SPAM"))


# --- happy paths -----------------------------------------------------------------------------------------------


def test_csv_import_stores_text_ids_labels_and_splits(ham_spam, user):
    content = (
        "id,text,label,part\na1,check out my channel,1,train\na2,great song,0,dev\na3,subscribe!!,1,test\n"
    )
    job = upload(
        ham_spam,
        user,
        content,
        id_field="id",
        label_field="label",
        split_field="part",
        label_map={"0": "HAM", "1": "SPAM"},
    )
    assert job.status == "done", job.errors
    assert (job.imported, job.labels_imported, job.errors) == (3, 3, [])
    got = [(s.row, s.external_id, s.text, s.split, s.gold_label) for s in samples(ham_spam)]
    assert got == [
        (0, "a1", "check out my channel", "train", 1),
        (1, "a2", "great song", "dev", 0),
        (2, "a3", "subscribe!!", "test", 1),
    ]
    imported = Annotation.objects.filter(project=ham_spam, source="import", annotator=None)
    assert sorted(imported.values_list("sample__external_id", "label")) == [("a1", 1), ("a2", 0), ("a3", 1)]
    # Other columns are kept with the sample; the text and label are not repeated there.
    assert samples(ham_spam)[0].fields == {"id": "a1", "part": "train"}


def test_jsonl_import_takes_class_names_as_labels(ham_spam, user):
    content = jsonl(
        {"id": 7, "body": "my new video", "y": "SPAM", "split": "validation"},
        {"id": 8, "body": "lovely", "y": "HAM", "split": "Test"},
        {"id": 9, "body": "no label yet", "y": None, "split": ""},
    )
    job = upload(
        ham_spam,
        user,
        content,
        name="s.jsonl",
        text_field="body",
        id_field="id",
        label_field="y",
        split_field="split",
    )
    assert job.status == "done", job.errors
    assert (job.imported, job.labels_imported) == (3, 2)
    got = [(s.external_id, s.text, s.split, s.gold_label) for s in samples(ham_spam)]
    assert got[:2] == [("7", "my new video", "dev", 1), ("8", "lovely", "test", 0)]
    assert got[2][:2] == ("9", "no label yet") and got[2][3] is None
    assert got[2][2] in ("train", "dev", "test")


def test_label_map_and_class_names_can_be_mixed(ham_spam, user):
    job = upload(ham_spam, user, "text,label\na,0\nb,SPAM\nc,\n", label_field="label", label_map={"0": "HAM"})
    assert job.status == "done", job.errors
    assert [s.gold_label for s in samples(ham_spam)] == [0, 1, None]
    assert job.labels_imported == 2


def test_seeded_split_is_the_same_for_the_same_seed_and_ids(alice, user):
    ids = [f"c{i}" for i in range(300)]
    content = "id,text\n" + "".join(f"{i},comment {i}\n" for i in ids)
    first = make_project(alice, name="one")
    second = make_project(alice, name="two")
    upload(first, user, content, id_field="id")
    # The same ids in another order get the same splits: the split depends on (seed, id), not the position.
    upload(second, user, "id,text\n" + "".join(f"{i},comment {i}\n" for i in reversed(ids)), id_field="id")
    split_of = {s.external_id: s.split for s in samples(first)}
    assert split_of == {s.external_id: s.split for s in samples(second)}
    counts = {name: list(split_of.values()).count(name) for name in ("train", "dev", "test")}
    # 80/10/10 by default: with 300 ids every split is used and train is the largest by far.
    assert counts["train"] > 200 and counts["dev"] > 10 and counts["test"] > 10
    assert split_of == {i: importer.seeded_split(i, first.seed, importer.DEFAULT_RATIOS) for i in ids}


def test_another_seed_gives_other_splits():
    ids = [f"c{i}" for i in range(200)]
    zero = [importer.seeded_split(i, 0, importer.DEFAULT_RATIOS) for i in ids]
    one = [importer.seeded_split(i, 1, importer.DEFAULT_RATIOS) for i in ids]
    assert zero != one


def test_a_utf8_bom_is_accepted_and_not_part_of_the_header(ham_spam, user):
    job = upload(ham_spam, user, BOM + b"text,label\nhello,HAM\n", label_field="label")
    assert job.status == "done", job.errors
    assert [(s.text, s.gold_label) for s in samples(ham_spam)] == [("hello", 0)]


def test_a_bom_before_a_jsonl_file_is_accepted(ham_spam, user):
    job = upload(ham_spam, user, BOM + jsonl({"text": "hi"}).encode(), name="a.jsonl")
    assert job.status == "done", job.errors
    assert samples(ham_spam)[0].text == "hi"


def test_newlines_inside_quoted_fields_stay_in_one_sample(ham_spam, user):
    content = 'text,label\n"first line\nsecond line",HAM\n"a\r\nb",SPAM\nplain,HAM\n'
    job = upload(ham_spam, user, content, label_field="label")
    assert job.status == "done", job.errors
    assert [s.text for s in samples(ham_spam)] == ["first line\nsecond line", "a\r\nb", "plain"]


def test_text_is_stored_exactly_as_given(ham_spam, user):
    texts = [
        "🎵 love it 🔥",
        "family: 👨\u200d👩\u200d👧\u200d👦 and flag 🏳️\u200d🌈",
        "cafe\u0301 nai\u0308ve",  # decomposed accents, not normalised to NFC
        "ends with a BOM\ufeff",
        "  leading and trailing spaces  ",
        "line\u2028separator and\u0085next line",
        'quotes "inside" and, commas',
    ]
    csv_body = "text\n" + "".join('"' + t.replace('"', '""') + '"\n' for t in texts)
    job = upload(ham_spam, user, csv_body)
    assert job.status == "done", job.errors
    assert [s.text for s in samples(ham_spam)] == texts
    other = make_project(user, name="jsonl")
    job = upload(other, user, jsonl(*({"text": t} for t in texts)), name="t.jsonl")
    assert job.status == "done", job.errors
    assert [s.text for s in samples(other)] == texts


def test_blank_lines_are_not_samples(ham_spam, user):
    job = upload(ham_spam, user, "\ntext\none\n\ntwo\n\n")
    assert job.status == "done", job.errors
    assert [s.text for s in samples(ham_spam)] == ["one", "two"]


def test_a_second_file_continues_the_row_index(ham_spam, user):
    upload(ham_spam, user, "text\na\nb\n")
    job = upload(ham_spam, user, jsonl({"text": "c"}, {"text": "d"}), name="more.jsonl")
    assert job.status == "done", job.errors
    assert [(s.row, s.text) for s in samples(ham_spam)] == [(0, "a"), (1, "b"), (2, "c"), (3, "d")]
    # Without an id field a sample's id is its row, so ids stay unique across files.
    assert [s.external_id for s in samples(ham_spam)] == ["0", "1", "2", "3"]


def test_a_file_after_a_single_sample_starts_at_row_one(ham_spam, user):
    make_samples(ham_spam, ["only one"])
    job = upload(ham_spam, user, "text\nnext\n")
    assert job.status == "done", job.errors
    assert [s.row for s in samples(ham_spam)] == [0, 1]


def test_a_second_run_of_the_same_job_does_nothing(ham_spam, user):
    job = upload(ham_spam, user, "text\na\n")
    services.run_import(job.pk)
    assert Sample.objects.filter(project=ham_spam).count() == 1


# --- bad files: a message naming the line and the problem, and nothing written ---------------------------------


def failed(project, user, content, name="bad.csv", **options):
    """Import a bad file; assert it failed and wrote nothing; return the first problem."""
    before = (Sample.objects.count(), Annotation.objects.count())
    job = upload(project, user, content, name=name, **options)
    assert job.status == "failed"
    assert job.imported == 0
    assert job.errors, "a failed import says why"
    assert (Sample.objects.count(), Annotation.objects.count()) == before, "a failed import writes nothing"
    return job.errors[0]


def test_an_empty_upload_is_refused_before_a_job_is_made(ham_spam, user):
    with pytest.raises(services.ServiceError) as exc:
        services.start_import(
            project=ham_spam,
            user=user,
            upload=SimpleUploadedFile("e.csv", b""),
            options={"text_field": "text"},
        )
    assert exc.value.message == "the file is empty"
    assert exc.value.field == "file"
    assert not ImportJob.objects.exists() and not Sample.objects.exists()


@pytest.mark.parametrize("content", ["\n\n", "\r\n  \n"])
def test_a_file_of_blank_lines_is_empty(ham_spam, user, content):
    assert failed(ham_spam, user, content)["message"] == "the file is empty"


def test_a_jsonl_file_of_blank_lines_is_empty(ham_spam, user):
    assert failed(ham_spam, user, "\n \n", name="e.jsonl")["message"] == "the file is empty"


def test_a_header_without_rows_is_refused(ham_spam, user):
    problem = failed(ham_spam, user, "text,label\n", label_field="label")
    assert problem == {"message": "line 1: the file has a header but no rows", "line": 1}


def test_a_missing_column_is_named_with_the_columns_there_are(ham_spam, user):
    problem = failed(ham_spam, user, "CONTENT,CLASS\nhi,0\n", text_field="CONTENT", label_field="label")
    assert problem["line"] == 1 and problem["field"] == "label"
    assert (
        problem["message"]
        == "line 1: the column 'label' is not in the header (the columns are: CONTENT, CLASS)"
    )


def test_a_missing_jsonl_field_names_its_line(ham_spam, user):
    problem = failed(ham_spam, user, jsonl({"text": "a"}, {"txt": "b"}), name="m.jsonl")
    assert problem == {"message": "line 2: the field 'text' is missing", "line": 2, "field": "text"}


def test_undecodable_bytes_name_the_encoding_offset_and_line(ham_spam, user):
    content = b"text\nfine\ncaf\xe9 latin-1\n"
    problem = failed(ham_spam, user, content)
    assert problem["line"] == 3
    assert problem["message"].startswith("line 3: the bytes at offset 13 (e9) are not valid utf-8")


def test_the_offset_of_a_bad_byte_counts_the_bom(ham_spam, user):
    problem = failed(ham_spam, user, BOM + b"text\n\xff\n")
    assert problem["line"] == 2
    assert "offset 8 " in problem["message"]


def test_a_file_cut_inside_a_character_names_the_last_bytes(ham_spam, user):
    content = b"text\nok\n\xf0\x9f\x8e"  # the first three bytes of a four-byte emoji
    problem = failed(ham_spam, user, content)
    assert problem["line"] == 3
    assert "offset 8 " in problem["message"] and "utf-8" in problem["message"]


def test_a_bad_byte_after_the_first_megabyte_is_found_at_its_offset(ham_spam, user):
    body = b"text\n" + b"".join(b"row %06d \xc3\xa9\n" % i for i in range(90_000))
    bad_at = len(body)
    problem = failed(ham_spam, user, body + b"bad \x80\n")
    assert problem["line"] == 90_002
    assert f"offset {bad_at + 4} " in problem["message"]


def test_an_unknown_label_names_the_line_value_and_classes(ham_spam, user):
    problem = failed(
        ham_spam, user, "text,label\na,0\nb,2\n", label_field="label", label_map={"0": "HAM", "1": "SPAM"}
    )
    assert problem["line"] == 3 and problem["field"] == "label"
    assert (
        problem["message"]
        == "line 3: label '2' is not one of the project's classes (HAM, SPAM); add it to label_map"
    )


def test_a_label_map_to_a_class_the_project_lacks_is_refused(ham_spam, user):
    with pytest.raises(services.ServiceError) as exc:
        upload(ham_spam, user, "text,label\na,0\n", label_field="label", label_map={"0": "EGGS"})
    assert exc.value.field == "label_map" and "EGGS" in exc.value.message
    assert not Sample.objects.exists()


def test_duplicate_ids_in_the_file_name_both_lines(ham_spam, user):
    problem = failed(ham_spam, user, "id,text\nx,a\ny,b\nx,c\n", id_field="id")
    assert problem == {"message": "line 4: duplicate id 'x' (first seen on line 2)", "line": 4, "field": "id"}


def test_an_id_already_in_the_project_is_refused(ham_spam, user):
    upload(ham_spam, user, "id,text\nx,a\n", id_field="id")
    problem = failed(ham_spam, user, "id,text\nnew,b\nx,c\n", id_field="id")
    assert problem == {
        "message": "line 3: id 'x' is already in the project (choose on_duplicate skip or update to import the file anyway)",
        "line": 3,
        "field": "id",
    }
    assert [s.external_id for s in samples(ham_spam)] == ["x"]


def test_a_row_number_id_taken_by_an_earlier_file_is_refused(ham_spam, user):
    upload(ham_spam, user, "id,text\n1,a\n", id_field="id")
    # Without an id field this file's first sample would get row 1 as its id, which is taken.
    problem = failed(ham_spam, user, "text\nb\n")
    assert problem["line"] == 2
    assert problem["message"].startswith("line 2: id '1' (its row number")


def test_a_ragged_csv_row_names_its_line(ham_spam, user):
    problem = failed(ham_spam, user, "text,label\na,HAM\nb,HAM,extra\n", label_field="label")
    assert problem == {"message": "line 3: the row has 3 fields but the header has 2", "line": 3}


def test_a_ragged_row_after_a_multiline_field_names_its_first_line(ham_spam, user):
    problem = failed(ham_spam, user, 'text,label\n"two\nlines",HAM\nshort\n', label_field="label")
    assert problem["line"] == 4


def test_an_unclosed_quote_is_a_csv_error(ham_spam, user):
    problem = failed(ham_spam, user, 'text\nok\n"never closed\n')
    assert problem["line"] == 3
    assert problem["message"] == (
        "line 3: this row cannot be read as CSV (a quoted field is not closed before the end of the file)"
    )


def test_invalid_json_names_its_line(ham_spam, user):
    problem = failed(ham_spam, user, jsonl({"text": "a"}) + '{"text": "b",}\n', name="b.jsonl")
    assert problem["line"] == 2
    assert problem["message"].startswith("line 2: invalid JSON (")


@pytest.mark.parametrize(
    ("line", "found"), [("[1, 2]", "an array"), ('"text"', "a string"), ("3", "a number")]
)
def test_a_json_line_that_is_not_an_object_is_refused(ham_spam, user, line, found):
    problem = failed(ham_spam, user, jsonl({"text": "a"}) + line + "\n", name="b.jsonl")
    assert problem == {"message": f"line 2: expected a JSON object, found {found}", "line": 2}


@pytest.mark.parametrize("text", ['""', '"   "'])
def test_an_empty_text_names_its_line(ham_spam, user, text):
    problem = failed(ham_spam, user, f"text,label\nfine,HAM\n{text},SPAM\n", label_field="label")
    assert problem == {"message": "line 3: the text field 'text' is empty", "line": 3, "field": "text"}


def test_a_null_jsonl_text_is_empty(ham_spam, user):
    problem = failed(ham_spam, user, jsonl({"text": None}), name="n.jsonl")
    assert problem == {"message": "line 1: the text field 'text' is empty", "line": 1, "field": "text"}


def test_an_empty_id_is_refused(ham_spam, user):
    problem = failed(ham_spam, user, "id,text\n,a\n", id_field="id")
    assert problem == {"message": "line 2: the id field 'id' is empty", "line": 2, "field": "id"}


def test_an_unknown_split_is_refused(ham_spam, user):
    problem = failed(ham_spam, user, "text,s\na,holdout\n", split_field="s")
    assert problem == {
        "message": "line 2: split 'holdout' is not train, dev or test",
        "line": 2,
        "field": "s",
    }


def test_a_nul_character_is_refused_rather_than_failing_in_the_database(ham_spam, user):
    problem = failed(ham_spam, user, "text\nbefore\x00after\n")
    assert problem["line"] == 2 and problem["field"] == "text"
    assert "NUL" in problem["message"]


def test_a_lone_surrogate_escape_in_jsonl_is_refused(ham_spam, user):
    problem = failed(ham_spam, user, '{"text": "bad \\ud83d here"}\n', name="s.jsonl")
    assert problem["line"] == 1 and "surrogate" in problem["message"]


def test_a_header_that_repeats_a_column_is_refused(ham_spam, user):
    problem = failed(ham_spam, user, "text,text\na,b\n")
    assert problem == {
        "message": "line 1: the header names the column 'text' more than once",
        "line": 1,
        "field": "text",
    }


def test_every_bad_row_is_reported_not_only_the_first(ham_spam, user):
    job = upload(ham_spam, user, "text,label\n,HAM\nb,EGGS\nc,HAM\n", label_field="label")
    assert [e["line"] for e in job.errors] == [2, 3]


def test_a_bad_row_at_the_end_of_a_large_file_writes_nothing(ham_spam, user):
    body = "id,text\n" + "".join(f"r{i},text {i}\n" for i in range(5000)) + "r17,again\n"
    problem = failed(ham_spam, user, body, id_field="id")
    assert problem["line"] == 5002
    assert problem["message"] == "line 5002: duplicate id 'r17' (first seen on line 19)"


def test_a_file_named_neither_csv_nor_jsonl_is_refused(ham_spam, user):
    with pytest.raises(services.ServiceError) as exc:
        upload(ham_spam, user, "text\na\n", name="samples.txt")
    assert exc.value.field == "file"
    assert "name it .csv, .tsv, .json, .jsonl or .parquet (optionally .gz or .zip)" in exc.value.message
    assert not ImportJob.objects.exists()


def test_the_format_can_be_chosen_for_any_file_name(ham_spam, user):
    job = upload(ham_spam, user, jsonl({"text": "a"}), name="export.txt", format="jsonl")
    assert job.status == "done", job.errors


def test_many_taken_ids_are_counted_beyond_the_first_ones_shown(ham_spam, user):
    content = "id,text\n" + "".join(f"r{i},text {i}\n" for i in range(30))
    upload(ham_spam, user, content, id_field="id")
    job = upload(ham_spam, user, content, id_field="id")
    assert job.status == "failed"
    assert [e.get("line") for e in job.errors[:20]] == list(range(2, 22))
    assert job.errors[20] == {"message": "and 10 more ids of this file are already in the project"}
    assert Sample.objects.filter(project=ham_spam).count() == 30


def test_reading_stops_after_twenty_problems_and_says_where(ham_spam, user):
    content = "text,label\n" + "".join(f"t{i},EGGS\n" for i in range(50))
    job = upload(ham_spam, user, content, label_field="label")
    assert job.status == "failed"
    assert len(job.errors) == 21
    assert job.errors[-1] == {"message": "stopped reading at line 21 after 20 problems"}


def test_a_jsonl_record_without_the_label_field_has_no_label(ham_spam, user):
    job = upload(
        ham_spam, user, jsonl({"text": "a", "y": "SPAM"}, {"text": "b"}), name="p.jsonl", label_field="y"
    )
    assert job.status == "done", job.errors
    assert [s.gold_label for s in samples(ham_spam)] == [1, None]


def test_a_label_field_no_jsonl_record_has_is_refused(ham_spam, user):
    problem = failed(
        ham_spam, user, jsonl({"text": "a", "label": "SPAM"}), name="p.jsonl", label_field="lable"
    )
    assert problem == {"message": "no record has the field 'lable'", "field": "lable"}


def test_a_carriage_return_outside_quotes_is_explained(ham_spam, user):
    problem = failed(ham_spam, user, "text\nfine\nold\rmac\n")
    assert problem["line"] == 3
    assert "a carriage return (\\r) outside quotes" in problem["message"]
