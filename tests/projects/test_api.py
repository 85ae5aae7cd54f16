"""The REST API for projects, imports, samples and hand labels: behaviour, validation and permissions."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Annotation, ImportJob, Project, Sample
from tests.conftest import add_member, make_project, make_samples, token_client, wait_for

CSV = b"id,text,label,split\na1,great song,0,train\na2,check out my channel,1,dev\na3,subscribe plz,1,test\n"


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def upload(client, project, content=CSV, name="comments.csv", **fields):
    form = {"text_field": "text", "id_field": "id", "label_field": "label", "split_field": "split"}
    form.update({"label_map": json.dumps({"0": "HAM", "1": "SPAM"}), **fields})
    form = {k: v for k, v in form.items() if v is not None}
    form["file"] = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(f"/api/projects/{project.pk}/imports/", form, format="multipart")


# --- token and authentication --------------------------------------------------------------------------------


def test_a_token_is_given_for_username_and_password(api_client, alice):
    response = api_client.post(
        "/api/token/", {"username": "alice", "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api_client.get("/api/projects/").status_code == 200


def test_requests_without_a_token_are_refused(api_client, project):
    response = api_client.get(f"/api/projects/{project.pk}/")
    assert response.status_code == 401
    assert "message" in response.json()


# --- projects ----------------------------------------------------------------------------------------------------


def test_project_list_shows_only_my_projects_with_my_role(project, bob, eve):
    make_project(eve, name="Eve's own")
    body = token_client(bob).get("/api/projects/").json()
    assert [(p["name"], p["role"]) for p in body] == [("Spam", "developer")]


def test_the_project_list_costs_the_same_queries_however_many_projects(bob):
    client = token_client(bob)
    make_project(bob, name="first")
    few = queries_for(client, "/api/projects/")
    for i in range(5):
        make_project(bob, name=f"more {i}")
    assert len(client.get("/api/projects/").json()) == 6
    assert queries_for(client, "/api/projects/") == few


def test_creating_a_project_makes_me_its_admin(eve):
    client = token_client(eve)
    response = client.post(
        "/api/projects/",
        {
            "name": "Reviews",
            "labels": ["NEG", "POS"],
            "description": "shop reviews",
            "instructions": "be strict",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (
        body["labels"] == ["NEG", "POS"] and body["role"] == "admin" and body["instructions"] == "be strict"
    )
    assert Project.objects.get(pk=body["id"]).memberships.get().user == eve


def test_a_project_with_one_class_is_refused_and_not_created(eve):
    response = token_client(eve).post("/api/projects/", {"name": "X", "labels": ["ONLY"]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"message": "a project needs at least two classes", "field": "labels"}
    assert not Project.objects.exists()


def test_a_project_without_labels_names_the_missing_field(eve):
    response = token_client(eve).post("/api/projects/", {"name": "X"}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "labels"


def test_any_member_reads_the_project(project, dana):
    body = token_client(dana).get(f"/api/projects/{project.pk}/").json()
    assert body["name"] == "Spam" and body["labels"] == ["HAM", "SPAM"] and body["role"] == "viewer"


def test_admin_changes_the_project_and_appends_a_class(project, alice):
    response = token_client(alice).patch(
        f"/api/projects/{project.pk}/",
        {"description": "comments", "labels": ["HAM", "SPAM", "OTHER"]},
        format="json",
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert project.description == "comments" and project.labels == ["HAM", "SPAM", "OTHER"]


def test_renaming_an_existing_class_is_refused(project, alice):
    response = token_client(alice).patch(
        f"/api/projects/{project.pk}/", {"labels": ["GOOD", "SPAM"]}, format="json"
    )
    assert response.status_code == 400
    assert (
        response.json()["field"] == "labels"
        and "cannot be removed, renamed or reordered" in response.json()["message"]
    )
    project.refresh_from_db()
    assert project.labels == ["HAM", "SPAM"]


def test_developer_cannot_change_the_project(project, bob):
    response = token_client(bob).patch(f"/api/projects/{project.pk}/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert "developer" in response.json()["message"]
    project.refresh_from_db()
    assert project.name == "Spam"


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/api/projects/{pk}/"),
        ("patch", "/api/projects/{pk}/"),
        ("get", "/api/projects/{pk}/imports/"),
        ("post", "/api/projects/{pk}/imports/"),
        ("get", "/api/projects/{pk}/samples/"),
        ("get", "/api/projects/{pk}/annotations/"),
        ("post", "/api/projects/{pk}/annotations/"),
        ("get", "/api/projects/{pk}/lfs/"),
        ("post", "/api/projects/{pk}/lfs/"),
        ("post", "/api/projects/{pk}/lfs/preview/"),
        ("get", "/api/projects/{pk}/runs/"),
        ("post", "/api/projects/{pk}/runs/"),
        ("get", "/api/projects/{pk}/runs/latest/"),
        ("get", "/api/projects/{pk}/export/?format=csv"),
    ],
)
def test_outsider_gets_404_for_everything_of_a_project(project, eve, method, path):
    response = getattr(token_client(eve), method)(path.format(pk=project.pk), {}, format="json")
    assert response.status_code == 404
    assert response.json() == {"message": "No such project."}


def test_a_project_that_does_not_exist_is_404_too(eve):
    assert token_client(eve).get("/api/projects/999999/").status_code == 404


# --- imports -------------------------------------------------------------------------------------------------------


def test_upload_is_imported_by_the_worker_with_gold_labels(worker, project, bob):
    client = token_client(bob)
    response = upload(client, project)
    assert response.status_code == 201
    job = response.json()
    assert job["status"] in ("queued", "running", "done") and job["filename"] == "comments.csv"
    done = wait_for(
        lambda: (b := client.get(f"/api/imports/{job['id']}/").json())["status"] in ("done", "failed") and b,
        what="the import",
    )
    assert done["status"] == "done", done["errors"]
    assert (done["imported"], done["labels_imported"], done["errors"], done["percent"]) == (3, 3, [], 100)
    rows = list(
        Sample.objects.filter(project=project).values_list("row", "external_id", "split", "gold_label")
    )
    assert rows == [(0, "a1", "train", 0), (1, "a2", "dev", 1), (2, "a3", "test", 1)]


def test_a_bad_file_fails_with_line_and_field_and_writes_nothing(worker, project, bob):
    client = token_client(bob)
    job = upload(client, project, content=b"id,text,label\nb1,fine,0\nb2,odd,7\n", split_field=None).json()
    done = wait_for(
        lambda: (b := client.get(f"/api/imports/{job['id']}/").json())["status"] in ("done", "failed") and b,
        what="the import",
    )
    assert done["status"] == "failed" and done["imported"] == 0
    [error] = done["errors"]
    assert error["line"] == 3 and error["field"] == "label" and "'7'" in error["message"]
    assert not Sample.objects.filter(project=project).exists()


def test_label_map_that_is_not_json_is_refused_before_anything_is_stored(project, bob):
    response = upload(token_client(bob), project, label_map="{0: HAM")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "label_map" and "not valid JSON" in body["message"]
    assert not ImportJob.objects.exists()


def test_label_map_naming_an_unknown_class_is_refused(project, bob):
    response = upload(token_client(bob), project, label_map=json.dumps({"0": "HAM", "1": "JUNK"}))
    assert response.status_code == 400
    assert response.json()["field"] == "label_map" and "JUNK" in response.json()["message"]
    assert not ImportJob.objects.exists()


def test_an_upload_without_a_file_names_the_file_field(project, bob):
    response = token_client(bob).post(
        f"/api/projects/{project.pk}/imports/", {"text_field": "text"}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "file"


def test_an_empty_file_is_refused(project, bob):
    response = upload(token_client(bob), project, content=b"")
    assert response.status_code == 400
    assert response.json() == {"message": "the file is empty", "field": "file"}


@pytest.mark.parametrize("persona", ["charlie", "dana"])
def test_annotators_and_viewers_cannot_import(project, persona, request):
    user = request.getfixturevalue(persona)
    assert upload(token_client(user), project).status_code == 403
    assert token_client(user).get(f"/api/projects/{project.pk}/imports/").status_code == 403
    assert not ImportJob.objects.exists()


def test_import_status_is_404_for_an_outsider_and_403_for_a_viewer(project, bob, dana, eve):
    job = ImportJob.objects.create(project=project, created_by=bob, filename="x.csv", options={})
    outsider = token_client(eve)
    assert (
        outsider.get(f"/api/imports/{job.pk}/").json()
        == outsider.get(f"/api/imports/{job.pk + 1000}/").json()
    )
    assert outsider.get(f"/api/imports/{job.pk}/").status_code == 404
    assert token_client(dana).get(f"/api/imports/{job.pk}/").status_code == 403
    body = token_client(bob).get(f"/api/imports/{job.pk}/").json()
    assert (body["status"], body["processed"], body["total"], body["errors"]) == ("queued", 0, None, [])


def test_import_list_shows_the_projects_jobs(project, bob):
    ImportJob.objects.create(project=project, created_by=bob, filename="x.csv", options={})
    body = token_client(bob).get(f"/api/projects/{project.pk}/imports/").json()
    assert [j["filename"] for j in body] == ["x.csv"]


# --- samples -------------------------------------------------------------------------------------------------------


def test_samples_are_listed_in_row_order_with_gold_and_pages(project, bob):
    make_samples(project, ["a", "b", "c"], splits=["train", "dev", "test"], gold=[0, None, 1])
    client = token_client(bob)
    body = client.get(f"/api/projects/{project.pk}/samples/?limit=2").json()
    assert body["count"] == 3 and body["next"]
    assert [(s["row"], s["external_id"], s["text"], s["split"], s["gold"]) for s in body["results"]] == [
        (0, "s0", "a", "train", "HAM"),
        (1, "s1", "b", "dev", None),
    ]
    rest = client.get(body["next"]).json()
    assert [s["gold"] for s in rest["results"]] == ["SPAM"]
    dev = client.get(f"/api/projects/{project.pk}/samples/?split=dev").json()
    assert [s["text"] for s in dev["results"]] == ["b"]


def test_a_page_of_samples_costs_the_same_queries_however_many_samples(project, bob):
    client = token_client(bob)
    url = f"/api/projects/{project.pk}/samples/"
    make_samples(project, ["a", "b"], gold=[0, 1])
    few = queries_for(client, url)
    make_samples(project, [f"text {i}" for i in range(40)], gold=[i % 2 for i in range(40)])
    assert queries_for(client, url) == few


def test_annotators_cannot_list_samples_because_the_list_shows_gold(project, charlie):
    make_samples(project, ["a"], gold=[0])
    response = token_client(charlie).get(f"/api/projects/{project.pk}/samples/")
    assert response.status_code == 403
    assert "annotator" in response.json()["message"]


def test_viewers_cannot_page_through_the_samples_as_they_cannot_export_them(project, dana, eve):
    # Paging every sample with its gold label is most of an export: viewers may do neither. Reviewers, who
    # read single samples in full, page them.
    make_samples(project, ["a"], gold=[0])
    listed = token_client(dana).get(f"/api/projects/{project.pk}/samples/")
    assert listed.status_code == 403 and "viewer" in listed.json()["message"]
    exported = token_client(dana).get(f"/api/projects/{project.pk}/export/?format=csv")
    assert exported.status_code == 403 and "viewer" in exported.json()["message"]
    add_member(project, eve, "reviewer")
    body = token_client(eve).get(f"/api/projects/{project.pk}/samples/").json()
    assert [(s["text"], s["gold"]) for s in body["results"]] == [("a", "HAM")]


def test_an_unknown_split_filter_is_named(project, bob):
    response = token_client(bob).get(f"/api/projects/{project.pk}/samples/?split=holdout")
    assert response.status_code == 400 and response.json()["field"] == "split"


# --- hand labels ---------------------------------------------------------------------------------------------------


def test_annotator_labels_by_external_id_and_by_id_and_can_change_it(project, charlie):
    first, second = make_samples(project, ["a", "b"])
    client = token_client(charlie)
    url = f"/api/projects/{project.pk}/annotations/"
    response = client.post(url, {"sample": "s0", "label": "SPAM"}, format="json")
    assert response.status_code == 201
    assert response.json()["sample"] == first.pk and response.json()["label"] == "SPAM"
    assert client.post(url, {"sample": second.pk, "label": "HAM"}, format="json").status_code == 201
    assert client.post(url, {"sample": "s0", "label": "HAM"}, format="json").status_code == 201
    labels = dict(
        Annotation.objects.filter(annotator__username="charlie").values_list("sample__external_id", "label")
    )
    assert labels == {"s0": 0, "s1": 0}
    first.refresh_from_db()
    assert first.gold_label == 0


def test_a_skip_is_recorded_as_a_null_label(project, charlie):
    make_samples(project, ["a"])
    response = token_client(charlie).post(
        f"/api/projects/{project.pk}/annotations/", {"sample": "s0", "label": None}, format="json"
    )
    assert response.status_code == 201 and response.json()["label"] is None
    assert Annotation.objects.get().skipped


def test_annotation_list_shows_only_my_own(project, bob, charlie):
    make_samples(project, ["a", "b"])
    url = f"/api/projects/{project.pk}/annotations/"
    token_client(bob).post(url, {"sample": "s0", "label": "HAM"}, format="json")
    token_client(charlie).post(url, {"sample": "s1", "label": "SPAM"}, format="json")
    body = token_client(charlie).get(url).json()
    assert body["count"] == 1
    assert [(a["external_id"], a["label"]) for a in body["results"]] == [("s1", "SPAM")]


def test_my_annotations_cost_the_same_queries_however_many(project, charlie):
    samples = make_samples(project, [f"text {i}" for i in range(30)])
    client = token_client(charlie)
    url = f"/api/projects/{project.pk}/annotations/"
    client.post(url, {"sample": samples[0].pk, "label": "HAM"}, format="json")
    few = queries_for(client, url)
    for s in samples[1:]:
        client.post(url, {"sample": s.pk, "label": "SPAM"}, format="json")
    assert queries_for(client, url) == few


def test_an_unknown_label_is_named_and_nothing_is_recorded(project, charlie):
    make_samples(project, ["a"])
    response = token_client(charlie).post(
        f"/api/projects/{project.pk}/annotations/", {"sample": "s0", "label": "EGGS"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "message": "label 'EGGS' is not one of the project's classes: HAM, SPAM",
        "field": "label",
    }
    assert not Annotation.objects.exists()


def test_a_sample_of_another_project_is_not_found(project, charlie, eve):
    other = make_project(eve, name="Other")
    [foreign] = make_samples(other, ["x"])
    response = token_client(charlie).post(
        f"/api/projects/{project.pk}/annotations/", {"sample": foreign.pk, "label": "HAM"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "sample" and f"id {foreign.pk}" in response.json()["message"]
    assert not Annotation.objects.exists()


def test_viewers_cannot_label(project, dana):
    make_samples(project, ["a"])
    url = f"/api/projects/{project.pk}/annotations/"
    assert token_client(dana).post(url, {"sample": "s0", "label": "HAM"}, format="json").status_code == 403
    assert token_client(dana).get(url).status_code == 403
    assert not Annotation.objects.exists()


# --- schema --------------------------------------------------------------------------------------------------------


def test_the_openapi_schema_loads_and_names_every_endpoint(api_client, alice):
    response = token_client(alice).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for path in [
        "/api/token/",
        "/api/projects/",
        "/api/projects/{id}/",
        "/api/projects/{id}/imports/",
        "/api/imports/{id}/",
        "/api/projects/{id}/samples/",
        "/api/projects/{id}/annotations/",
        "/api/projects/{id}/lfs/",
        "/api/lfs/{id}/",
        "/api/projects/{id}/lfs/preview/",
        "/api/projects/{id}/runs/",
        "/api/runs/{id}/",
        "/api/projects/{id}/runs/latest/",
        "/api/projects/{id}/export/",
    ]:
        assert path in paths, path


def test_every_endpoint_is_described_without_schema_warnings(tmp_path):
    # --fail-on-warn: a view or field drf-spectacular cannot describe fails here, not in a client's generator.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/projects/{id}/export/" in (tmp_path / "schema.yaml").read_text()
