"""Renaming a class (API and the settings page's htmx form): every hand label, gold and check label, LF vote and
run result keeps pointing to the same class, and every page, API answer and export shows the new name; a bad
name is refused with the problem named and changes nothing; only admins may rename."""

import csv
import io

import pytest
from django.urls import reverse

from labeling import services as lf_services
from labeling.models import LabelModelRun
from projects import checks, classes, services
from projects.models import Annotation, AuditEvent, ImportJob, Project, Sample
from tests.conftest import add_member, make_samples, make_user, token_client
from tests.labeling.helpers import apply_and_refit


@pytest.fixture
def labeled(project, alice, bob, charlie):
    """Hand labels, an adjudication, a gold check, two LFs with votes and a finished run, all with SPAM."""
    rita = make_user("rita")
    add_member(project, rita, "reviewer")
    samples = make_samples(
        project,
        ["check my channel", "great song", "subscribe to my page", "love it", "my video", "nice tune"],
        splits=["train", "train", "dev", "dev", "test", "test"],
        gold=[1, 0, 1, 0, 1, 0],
    )
    services.annotate(project=project, sample=samples[0], user=charlie, label=1)
    services.annotate(project=project, sample=samples[1], user=charlie, label=0)
    services.annotate(project=project, sample=samples[2], user=rita, label=1)
    services.adjudicate(project=project, sample=samples[2], user=rita, label=1)
    checks.mark_checks(project=project, items=[(samples[4], 1)], by=alice)
    lf_services.create_lf(
        project=project, user=bob, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    lf_services.create_lf(
        project=project, user=bob, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    run = apply_and_refit(project)
    return {"samples": samples, "run": run, "rita": rita}


def _stored(project):
    """Every class index stored for the project, to compare before and after a rename."""
    return {
        "annotations": sorted(Annotation.objects.filter(project=project).values_list("sample_id", "label")),
        "gold": sorted(
            Sample.objects.filter(project=project).values_list("row", "gold_label", "check_label")
        ),
        "lf_labels": sorted(
            (lf.name, lf.current.label) for lf in project.lfs.select_related("current").all()
        ),
        "votes": [v.vote_array().tolist() for v in lf_services.current_versions(project).order_by("pk")],
        "predictions": [r.prediction_array().tolist() for r in LabelModelRun.objects.filter(project=project)],
    }


def _rename(api, project, index, name):
    return api.patch(reverse("api_project_class", args=[project.pk, index]), {"name": name}, format="json")


def test_renaming_a_class_keeps_every_label_and_shows_the_new_name(client, project, alice, labeled):
    before = _stored(project)
    api = token_client(alice)
    response = _rename(api, project, 1, "  JUNK ")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "index": 1,
        "name": "JUNK",
        "old_name": "SPAM",
        "labels": ["HAM", "JUNK"],
        "notes": [],
    }
    project.refresh_from_db()
    assert project.labels == ["HAM", "JUNK"]
    assert _stored(project) == before
    event = AuditEvent.objects.get(project=project, action="class.renamed")
    assert event.details == {"index": 1, "name": {"old": "SPAM", "new": "JUNK"}}

    # The stored run results name the class anew.
    run = LabelModelRun.objects.get(pk=labeled["run"].pk)
    assert set(run.summary["predicted_distribution"]) == {"HAM", "JUNK"}
    assert set(run.summary["gold_distribution"]) == {"HAM", "JUNK"}
    assert run.summary["gold_distribution"]["JUNK"] == 3
    assert set(run.metrics["dev"]["per_class"]) == {"HAM", "JUNK"}
    assert {s["name"]: s["label"] for s in run.lf_stats} == {"my": "JUNK", "song": "HAM"}
    assert "SPAM" not in str(run.summary) + str(run.metrics) + str(run.lf_stats)

    # The API answers with the new name wherever it names a class.
    samples = api.get(reverse("api_project_samples", args=[project.pk])).json()["results"]
    assert [s["gold"] for s in samples] == ["JUNK", "HAM", "JUNK", "HAM", "JUNK", "HAM"]
    assert [
        c["label"] for c in api.get(reverse("api_project_checks", args=[project.pk])).json()["results"]
    ] == ["JUNK"]
    lfs = api.get(reverse("api_project_lfs", args=[project.pk])).json()
    lfs = lfs["results"] if isinstance(lfs, dict) else lfs
    assert {lf["name"]: lf["label"] for lf in lfs} == {"my": "JUNK", "song": "HAM"}
    mine = token_client(project.memberships.get(role="annotator").user)
    assert {
        a["label"] for a in mine.get(reverse("api_project_annotations", args=[project.pk])).json()["results"]
    } == {
        "HAM",
        "JUNK",
    }

    # The pages: label buttons, the dashboard's distributions, per-class metrics and LF table.
    client.force_login(alice)
    label_page = client.get(reverse("label", args=[project.pk])).content.decode()
    assert "JUNK" in label_page and "SPAM" not in label_page
    dashboard = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert "JUNK" in dashboard and "SPAM" not in dashboard
    overview = client.get(reverse("analysis_overview", args=[project.pk])).content.decode()
    assert "JUNK" in overview and "SPAM" not in overview

    # The export's header and labels.
    exported = client.get(reverse("api_project_export", args=[project.pk]), {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert "probability_JUNK" in rows[0] and "probability_SPAM" not in rows[0]
    assert [r["hand_label"] for r in rows] == ["JUNK", "HAM", "JUNK", "HAM", "JUNK", "HAM"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "the new class name is blank"),
        ("   ", "the new class name is blank"),
        ("ham", "another class is already called 'HAM'"),
        ("Ham", "another class is already called 'HAM'"),
        ("x" * 101, "at most 100 characters (101 given)"),
        ("A,B", "cannot contain a comma"),
        ("abstain", "ABSTAIN is reserved"),
    ],
)
def test_a_bad_name_is_refused_naming_the_problem_and_changes_nothing(
    client, project, alice, labeled, name, problem
):
    before = _stored(project)
    run_before = LabelModelRun.objects.values("summary", "metrics", "lf_stats").get(pk=labeled["run"].pk)
    response = _rename(token_client(alice), project, 1, name)
    assert response.status_code == 400 and problem in response.json()["message"], response.content
    assert response.json()["field"] == "name"
    client.force_login(alice)
    page = client.post(reverse("class_rename", args=[project.pk, 1]), {"name": name}, HTTP_HX_REQUEST="true")
    assert page.status_code == 422
    html = page.content.decode()
    assert "Not renamed:" in html and problem.replace("'", "&#x27;") in html and "<html" not in html
    project.refresh_from_db()
    assert project.labels == ["HAM", "SPAM"]
    assert _stored(project) == before
    assert (
        LabelModelRun.objects.values("summary", "metrics", "lf_stats").get(pk=labeled["run"].pk) == run_before
    )
    assert not AuditEvent.objects.filter(project=project, action="class.renamed").exists()


def test_a_class_number_that_does_not_exist_is_refused(project, alice):
    response = _rename(token_client(alice), project, 2, "OTHER")
    assert response.status_code == 400
    assert response.json()["message"] == "there is no class number 2; the classes are numbered 0 to 1"


def test_a_class_may_change_its_own_case_and_the_same_name_changes_nothing(project, alice):
    api = token_client(alice)
    assert _rename(api, project, 1, "Spam").json()["labels"] == ["HAM", "Spam"]
    assert _rename(api, project, 1, "Spam").status_code == 200
    assert AuditEvent.objects.filter(project=project, action="class.renamed").count() == 1


def test_the_settings_page_renames_with_htmx_and_without(client, project, alice):
    client.force_login(alice)
    url = reverse("class_rename", args=[project.pk, 0])
    settings_page = client.get(reverse("workflow", args=[project.pk])).content.decode()
    assert f'hx-post="{url}"' in settings_page and 'id="class-name-0"' in settings_page
    fragment = client.post(url, {"name": "GOOD"}, HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in html and 'id="classes"' in html
    assert "Renamed the class HAM to GOOD" in html and '<th scope="row">GOOD</th>' in html
    followed = client.post(url, {"name": "FINE"}, follow=True)
    assert followed.redirect_chain[-1][0] == reverse("workflow", args=[project.pk])
    assert "Renamed the class GOOD to FINE" in followed.content.decode()
    assert Project.objects.get(pk=project.pk).labels == ["FINE", "SPAM"]


@pytest.mark.parametrize("persona", ["bob", "rita", "charlie", "dana", "eve"])
def test_only_admins_may_rename_a_class(client, project, eve, persona, labeled):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username=persona)
    want = 404 if persona == "eve" else 403
    assert _rename(token_client(user), project, 1, "JUNK").status_code == want
    client.force_login(user)
    assert client.post(reverse("class_rename", args=[project.pk, 1]), {"name": "JUNK"}).status_code == want
    assert client.get(reverse("workflow", args=[project.pk])).status_code == want
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM"]


def test_an_import_waiting_for_the_worker_maps_to_the_renamed_class(project, alice, bob):
    job = ImportJob.objects.create(
        project=project,
        created_by=bob,
        filename="c.csv",
        options={"text_field": "text", "label_field": "y", "label_map": {"0": "HAM", "1": "SPAM"}},
    )
    done = ImportJob.objects.create(
        project=project, created_by=bob, filename="d.csv", status="done", options={"label_map": {"1": "SPAM"}}
    )
    classes.rename_class(project=project, index=1, name="JUNK", user=alice)
    job.refresh_from_db()
    done.refresh_from_db()
    assert job.options["label_map"] == {"0": "HAM", "1": "JUNK"} and job.options["text_field"] == "text"
    assert done.options["label_map"] == {"1": "SPAM"}  # what a finished import did stays as it was


def test_the_admin_is_told_of_code_that_returns_the_old_name(project, alice, bob):
    make_samples(project, ["a", "b"])
    lf_services.create_lf(
        project=project,
        user=bob,
        name="code spam",
        kind="code",
        label=None,
        config={"source": "def lf(x):\n    return 'SPAM' if 'a' in x.text else None\n"},
    )
    lf_services.create_lf(
        project=project,
        user=bob,
        name="code by index",
        kind="code",
        label=None,
        config={"source": "def lf(x):\n    return 1\n"},
    )
    done = classes.rename_class(project=project, index=1, name="JUNK", user=alice)
    assert len(done.notes) == 1
    assert (
        "“code spam”" in done.notes[0] and "'SPAM'" in done.notes[0] and "code by index" not in done.notes[0]
    )


def test_a_run_that_finishes_after_a_rename_names_the_new_class(project, alice, bob, labeled, monkeypatch):
    from labeling import refit

    fit = refit._fit

    def fit_then_rename(*args, **kwargs):
        # The class is renamed while the refit computes (after it read the project's classes).
        classes.rename_class(project=project, index=1, name="JUNK", user=alice)
        return fit(*args, **kwargs)

    monkeypatch.setattr(refit, "_fit", fit_then_rename)
    run = lf_services.request_refit(project=project, force=True)
    refit.refit(run.pk)
    run.refresh_from_db()
    assert run.status == "done", run.message
    assert set(run.summary["predicted_distribution"]) == {"HAM", "JUNK"}
    assert set(run.metrics["test"]["per_class"]) == {"HAM", "JUNK"}
    assert {s["name"]: s["label"] for s in run.lf_stats} == {"my": "JUNK", "song": "HAM"}
