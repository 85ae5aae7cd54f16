"""Exports: CSV and JSONL of the latest done run's predicted labels and probabilities, with the hand labels."""

import csv
import io
import json
import time

import pytest

from labeling import services
from labeling.export import export_response
from labeling.models import LabelModelRun
from projects import services as project_services
from projects.models import Sample
from projects.services import ServiceError
from tests.conftest import add_member, make_project, make_samples, token_client
from tests.labeling.helpers import apply_and_refit

TEXTS = ["check out my channel", "great song", "my song, my rules", 'nice, and\n"quoted"']


@pytest.fixture
def labeled(project, alice, charlie):
    """Four samples: a SPAM vote, a HAM vote, a tie (uninformative), no vote; an imported and a human label."""
    samples = make_samples(project, TEXTS, splits=["train", "dev", "test", "dev"], gold=[1, None, None, 0])
    services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    services.create_lf(
        project=project, user=alice, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    run = apply_and_refit(project)
    project_services.annotate(project=project, sample=samples[1], user=charlie, label=0)
    return project, samples, run


def read(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


def test_csv_has_a_header_a_row_per_sample_and_probabilities_summing_to_one(labeled, bob):
    project, samples, run = labeled
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="spam-labels-run-{run.number}.csv"'
    rows = list(csv.DictReader(io.StringIO(read(response))))
    assert list(rows[0]) == [
        "sample_id",
        "external_id",
        "row",
        "text",
        "split",
        "predicted_label",
        "probability_HAM",
        "probability_SPAM",
        "confidence",
        "hand_label",
        "hand_labels",
        "fields",
    ]
    assert [r["text"] for r in rows] == TEXTS
    assert [int(r["sample_id"]) for r in rows] == [s.pk for s in samples]
    for r in rows[:3]:
        assert float(r["probability_HAM"]) + float(r["probability_SPAM"]) == pytest.approx(1, abs=1e-6)
    # No source voted on the last row: its prior is not exported as if it were a prediction.
    assert (rows[3]["probability_HAM"], rows[3]["probability_SPAM"], rows[3]["confidence"]) == ("", "", "")
    assert [r["predicted_label"] for r in rows] == ["SPAM", "HAM", "", ""]
    assert (float(rows[0]["probability_SPAM"]), float(rows[1]["probability_HAM"])) == (1.0, 1.0)
    assert float(rows[2]["probability_SPAM"]) == pytest.approx(0.5)
    assert [r["hand_label"] for r in rows] == ["SPAM", "HAM", "", "HAM"]
    first, second = json.loads(rows[0]["hand_labels"]), json.loads(rows[1]["hand_labels"])
    assert [{k: v for k, v in h.items() if k != "labeled_at"} for h in first + second] == [
        {"annotator": None, "source": "import", "label": "SPAM"},
        {"annotator": "charlie", "source": "human", "label": "HAM"},
    ]
    assert second[0]["labeled_at"] == samples[1].annotations.get().updated_at.isoformat()
    assert rows[2]["hand_labels"] == ""
    expected = run.probability_array().max(axis=1)
    assert [float(r["confidence"]) for r in rows[:3]] == pytest.approx(expected[:3].tolist(), abs=1e-6)


def test_jsonl_has_one_object_per_sample_with_probabilities_by_class_name(labeled, alice):
    project, samples, run = labeled
    response = token_client(alice).get(f"/api/projects/{project.pk}/export/?format=jsonl")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in read(response).splitlines()]
    assert [r["external_id"] for r in records] == ["s0", "s1", "s2", "s3"]
    assert records[3]["text"] == TEXTS[3]
    for r in records[:3]:
        assert set(r["probabilities"]) == {"HAM", "SPAM"}
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-6)
    expected = run.probability_array()
    assert [r["probabilities"]["SPAM"] for r in records[:3]] == pytest.approx(
        expected[:3, 1].tolist(), abs=1e-6
    )
    assert [r["predicted_label"] for r in records] == ["SPAM", "HAM", None, None]
    # The tie keeps its (even) probabilities; the row nobody voted on has the prior, which is not exported.
    assert (records[3]["probabilities"], records[3]["confidence"]) == (None, None)
    assert records[1]["hand_label"] == "HAM" and records[1]["hand_labels"][0]["annotator"] == "charlie"
    assert records[0]["split"] == "train" and records[0]["sample_id"] == samples[0].pk


def test_samples_imported_after_the_run_have_no_prediction(labeled, bob):
    project, _, _ = labeled
    make_samples(project, ["arrived later"])
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=jsonl")
    last = json.loads(read(response).splitlines()[-1])
    assert (last["text"], last["predicted_label"], last["probabilities"]) == ("arrived later", None, None)


def test_the_export_follows_the_newest_done_run(labeled, bob):
    project, _, run = labeled
    newer = LabelModelRun.objects.create(project=project, status="failed", message="boom")
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv")
    assert response["X-Chorus-Run"] == str(run.pk) != str(newer.pk)


def test_an_unknown_format_is_refused_with_a_message(labeled, bob):
    project, _, _ = labeled
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=xlsx")
    assert response.status_code == 400
    assert response.json() == {
        "message": "unknown export format 'xlsx'; choose one of csv, jsonl",
        "field": "format",
    }
    assert token_client(bob).get(f"/api/projects/{project.pk}/export/").status_code == 400


def test_without_a_finished_run_the_hand_labels_are_exported_with_empty_predictions(project, bob, charlie):
    samples = make_samples(project, ["a", "b", "c"], gold=[1, None, None])
    project_services.annotate(project=project, sample=samples[1], user=charlie, label=0)
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="spam-labels-no-run.csv"'
    assert "no label-model run has finished" in response["X-Chorus-Notice"]
    assert not response.has_header("X-Chorus-Run")
    rows = list(csv.DictReader(io.StringIO(read(response))))
    assert [(r["text"], r["hand_label"]) for r in rows] == [("a", "SPAM"), ("b", "HAM"), ("c", "")]
    assert {(r["predicted_label"], r["probability_SPAM"], r["confidence"]) for r in rows} == {("", "", "")}
    assert json.loads(rows[1]["hand_labels"])[0]["annotator"] == "charlie"

    lines = read(export_response(project, "jsonl", {"only_gold": "true"})).splitlines()
    assert [json.loads(line)["hand_label"] for line in lines] == ["SPAM", "HAM"]
    assert {json.loads(line)["predicted_label"] for line in lines} == {None}

    # No sample has a prediction to be informative: that option is refused, not answered with nothing.
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv&only_informative=true")
    assert response.status_code == 400
    assert response.json()["field"] == "only_informative"
    with pytest.raises(ServiceError, match="no label-model run has finished"):
        export_response(project, "jsonl", {"only_informative": "true"})


@pytest.mark.parametrize("persona", ["charlie", "dana"])
def test_annotators_and_viewers_cannot_export(labeled, persona, request):
    project, _, _ = labeled
    response = token_client(request.getfixturevalue(persona)).get(
        f"/api/projects/{project.pk}/export/?format=csv"
    )
    assert response.status_code == 403


def test_options_pick_a_split_informative_predictions_or_gold_only(labeled, bob):
    project, samples, _ = labeled
    client = token_client(bob)

    def ids(query):
        response = client.get(f"/api/projects/{project.pk}/export/?format=jsonl&{query}")
        assert response.status_code == 200, response.content
        return [json.loads(line)["external_id"] for line in read(response).splitlines()]

    assert ids("split=dev") == ["s1", "s3"]
    assert ids("only_informative=true") == ["s0", "s1"]
    assert ids("only_gold=1") == ["s0", "s1", "s3"]
    assert ids("split=dev&only_gold=true&only_informative=true") == ["s1"]
    response = client.get(f"/api/projects/{project.pk}/export/?format=csv&split=holdout")
    assert (response.status_code, response.json()["field"]) == (400, "split")


def test_jsonl_carries_fields_and_confidence(labeled, bob):
    project, samples, _ = labeled
    Sample.objects.filter(pk=samples[0].pk).update(fields={"likes": 3, "author": "ann"})
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=jsonl")
    first = json.loads(read(response).splitlines()[0])
    assert first["fields"] == {"likes": 3, "author": "ann"}
    assert first["confidence"] == pytest.approx(max(first["probabilities"].values()))


def test_the_first_bytes_of_a_large_export_arrive_at_once(project, alice, bob):
    Sample.objects.bulk_create(
        [Sample(project=project, row=i, external_id=f"x{i}", text=f"text {i}") for i in range(30_000)]
    )
    services.create_lf(
        project=project, user=alice, name="t", kind="keyword", label="HAM", config={"keywords": ["text"]}
    )
    apply_and_refit(project)
    began = time.perf_counter()
    response = token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv")
    first = next(iter(response.streaming_content))
    assert time.perf_counter() - began < 1.0
    assert first.startswith(b"sample_id,external_id")


def test_csv_fields_are_the_samples_fields_and_hand_labels_follow_their_own_samples(labeled, bob, charlie):
    # The CSV prints PostgreSQL's JSON text of the fields as it is; it must read back as the same values,
    # whatever they hold. Hand labels are found by a page's row range, also in an export of one split.
    project, samples, run = labeled
    tricky = {
        "author": 'Zoë «quoted» "x"',
        "nested": {"list": [1, 2.5, None, True], "empty": {}},
        "small": 1e-7,
        "big": 12345678901234567890,
        "control": "line\nbreak\ttab\u0001",
        "": "blank key",
    }
    Sample.objects.filter(pk=samples[0].pk).update(fields=tricky)
    Sample.objects.filter(pk=samples[2].pk).update(fields={})
    project_services.annotate(project=project, sample=samples[2], user=charlie, label=1)
    rows = list(
        csv.DictReader(
            io.StringIO(read(token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv")))
        )
    )
    assert json.loads(rows[0]["fields"]) == tricky
    assert rows[2]["fields"] == ""
    assert [[h["label"] for h in json.loads(r["hand_labels"] or "[]")] for r in rows] == [
        ["SPAM"],
        ["HAM"],
        ["SPAM"],
        ["HAM"],
    ]
    jsonl = [
        json.loads(line)
        for line in read(
            token_client(bob).get(f"/api/projects/{project.pk}/export/?format=jsonl")
        ).splitlines()
    ]
    assert jsonl[0]["fields"] == tricky and jsonl[2]["fields"] == {}
    dev_only = list(
        csv.DictReader(
            io.StringIO(
                read(token_client(bob).get(f"/api/projects/{project.pk}/export/?format=csv&split=dev"))
            )
        )
    )
    assert [r["row"] for r in dev_only] == ["1", "3"]
    assert [[h["label"] for h in json.loads(r["hand_labels"] or "[]")] for r in dev_only] == [
        ["HAM"],
        ["HAM"],
    ]


FORMULAS = ['=HYPERLINK("http://x")', "-5 stars", "+1 from me", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "ok -5"]


def test_csv_cells_a_spreadsheet_would_run_as_a_formula_get_a_leading_quote(alice, bob):
    # OWASP's advice for CSV injection. It cannot tell a formula from an ordinary text such as "-5 stars":
    # both get the quote, as the export page says. A class name and an external id are cells too.
    project = make_project(alice, name="Formulas", labels=("-1", "=ok"))
    add_member(project, bob, "developer")
    samples = make_samples(project, FORMULAS, gold=[0, 1, None, None, None, None, None])
    Sample.objects.filter(pk=samples[0].pk).update(external_id="=ext", fields={"note": "=1+1"})
    services.create_lf(
        project=project, user=alice, name="stars", kind="regex", label="-1", config={"pattern": "stars"}
    )
    apply_and_refit(project)
    client = token_client(bob)
    rows = list(
        csv.DictReader(io.StringIO(read(client.get(f"/api/projects/{project.pk}/export/?format=csv"))))
    )
    assert [r["text"] for r in rows] == ["'" + t for t in FORMULAS[:-1]] + ["ok -5"]
    assert rows[0]["external_id"] == "'=ext" and rows[1]["external_id"] == "s1"
    assert rows[0]["hand_label"] == "'-1" and rows[1]["hand_label"] == "'=ok"
    assert rows[1]["predicted_label"] == "'-1"
    # The header names the classes after "probability_"; JSON cells start with { or [ and keep their text.
    assert "probability_-1" in rows[0] and "probability_=ok" in rows[0]
    assert json.loads(rows[0]["fields"]) == {"note": "=1+1"}
    assert json.loads(rows[0]["hand_labels"])[0]["label"] == "-1"
    # JSONL is data for programs, not a spreadsheet: every value as it was stored.
    lines = read(client.get(f"/api/projects/{project.pk}/export/?format=jsonl")).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == FORMULAS
    assert records[0]["external_id"] == "=ext" and records[0]["hand_label"] == "-1"
    assert records[1]["predicted_label"] == "-1"
