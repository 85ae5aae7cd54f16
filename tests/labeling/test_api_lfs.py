"""The REST API for labeling functions and their preview: versions, validation messages, permissions."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labeling.models import LabelingFunction, LabelModelRun, LFVersion
from tests.conftest import make_samples, token_client, wait_for

REGEX = {"name": "my", "kind": "regex", "label": "SPAM", "config": {"pattern": "(?i)my"}}
KEYWORD = {
    "name": "song",
    "kind": "keyword",
    "label": "HAM",
    "config": {"keywords": ["song", "love"], "whole_word": True, "case_sensitive": False},
}


def lfs_url(project):
    return f"/api/projects/{project.pk}/lfs/"


def create(client, project, body):
    return client.post(lfs_url(project), body, format="json")


@pytest.fixture
def texts(project):
    return make_samples(
        project,
        ["check out My channel", "great song", "subscribe to my page", "love it"],
        splits=["train", "dev", "dev", "test"],
        gold=[1, 0, 1, 0],
    )


# --- creating ----------------------------------------------------------------------------------------------------


def test_developer_writes_a_regex_lf_and_gets_its_first_version(project, bob):
    response = create(token_client(bob), project, REGEX)
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["kind"], body["label"], body["config"], body["active"]) == (
        "my",
        "regex",
        "SPAM",
        {"pattern": "(?i)my"},
        True,
    )
    assert body["version"]["number"] == 1 and body["version"]["status"] == "queued"
    assert body["version"]["coverage"] is None


def test_a_keyword_lf_keeps_its_options(project, bob):
    body = create(token_client(bob), project, KEYWORD).json()
    assert body["config"]["keywords"] == ["song", "love"] and body["config"]["whole_word"] is True


def test_the_worker_applies_a_new_lf_and_its_version_shows_coverage(worker, project, bob, texts):
    client = token_client(bob)
    lf = create(client, project, REGEX).json()
    version = wait_for(
        lambda: (v := client.get(f"/api/lfs/{lf['id']}/").json()["version"])["status"] == "done" and v,
        what="the LF's application",
    )
    assert version["coverage"] == 0.5 and version["n_rows"] == 4 and version["message"] == ""
    # The refit that follows runs in the worker; let it end before the test database is flushed.
    wait_for(lambda: LabelModelRun.objects.filter(project=project, status="done").exists(), what="the refit")
    wait_for(
        lambda: not LabelModelRun.objects.filter(project=project, status__in=["queued", "running"]).exists()
    )


def test_an_unknown_label_is_refused_and_nothing_is_created(project, bob):
    response = create(token_client(bob), project, {**REGEX, "label": "EGGS"})
    assert response.status_code == 400
    assert response.json() == {
        "message": "label must be one of the project's classes: HAM, SPAM",
        "field": "label",
    }
    assert not LabelingFunction.objects.exists() and not LFVersion.objects.exists()


def test_a_bad_regex_is_refused_with_the_reason_and_nothing_is_created(project, bob):
    response = create(token_client(bob), project, {**REGEX, "config": {"pattern": "(?i)(unclosed"}})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "config"
    assert body["message"] == "the pattern cannot be used: missing ): (?i)(unclosed"
    assert not LabelingFunction.objects.exists()


def test_an_unknown_kind_is_named(project, bob):
    response = create(token_client(bob), project, {**REGEX, "kind": "llm"})
    assert response.status_code == 400
    assert response.json()["field"] == "kind" and "'llm'" in response.json()["message"]
    assert not LabelingFunction.objects.exists()


def test_a_keyword_lf_without_keywords_is_refused(project, bob):
    response = create(token_client(bob), project, {**KEYWORD, "config": {"keywords": [" "]}})
    assert response.status_code == 400
    assert response.json() == {"message": "give at least one keyword", "field": "config"}


def test_a_second_lf_with_the_same_name_is_refused(project, bob):
    client = token_client(bob)
    create(client, project, REGEX)
    response = create(client, project, {**REGEX, "config": {"pattern": "mine"}})
    assert response.status_code == 400
    assert response.json()["field"] == "name" and "'my'" in response.json()["message"]
    assert LabelingFunction.objects.count() == 1


def test_a_missing_config_is_named(project, bob):
    response = create(token_client(bob), project, {"name": "x", "kind": "regex", "label": "SPAM"})
    assert response.status_code == 400
    assert response.json()["field"] == "config"


# --- reading -------------------------------------------------------------------------------------------------------


def test_viewers_read_the_lf_list_without_deleted_ones(project, bob, dana):
    client = token_client(bob)
    create(client, project, REGEX)
    gone = create(client, project, KEYWORD).json()
    client.delete(f"/api/lfs/{gone['id']}/")
    body = token_client(dana).get(lfs_url(project)).json()
    assert [(lf["name"], lf["version"]["number"]) for lf in body] == [("my", 1)]


def test_the_lf_list_costs_the_same_queries_however_many_lfs(project, bob):
    client = token_client(bob)
    create(client, project, REGEX)

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(lfs_url(project)).status_code == 200
        return len(captured)

    few = count()
    for i in range(5):
        create(client, project, {**REGEX, "name": f"my {i}"})
    assert len(client.get(lfs_url(project)).json()) == 6
    assert count() == few


def test_annotators_cannot_see_lfs(project, bob, charlie):
    lf = create(token_client(bob), project, REGEX).json()
    client = token_client(charlie)
    assert client.get(lfs_url(project)).status_code == 403
    assert client.get(f"/api/lfs/{lf['id']}/").status_code == 403


def test_outsider_gets_404_for_an_lf(project, bob, eve):
    lf = create(token_client(bob), project, REGEX).json()
    client = token_client(eve)
    for method in ("get", "patch", "delete"):
        response = getattr(client, method)(f"/api/lfs/{lf['id']}/", {}, format="json")
        assert response.status_code == 404, method
        assert response.json() == {"message": "No such labeling function."}
    assert LabelingFunction.objects.live().count() == 1


# --- changing ------------------------------------------------------------------------------------------------------


def test_a_new_pattern_makes_a_new_version_and_a_rename_does_not(project, bob):
    client = token_client(bob)
    lf = create(client, project, REGEX).json()
    url = f"/api/lfs/{lf['id']}/"
    renamed = client.patch(url, {"name": "mine"}, format="json").json()
    assert (renamed["name"], renamed["version"]["number"]) == ("mine", 1)
    changed = client.patch(url, {"config": {"pattern": "(?i)\\bmy\\b"}, "label": "HAM"}, format="json").json()
    assert changed["version"]["number"] == 2 and changed["version"]["status"] == "queued"
    assert (changed["label"], changed["config"]) == ("HAM", {"pattern": "(?i)\\bmy\\b"})
    versions = list(LFVersion.objects.filter(lf_id=lf["id"]).values_list("number", "config"))
    assert versions == [(1, {"pattern": "(?i)my"}), (2, {"pattern": "(?i)\\bmy\\b"})]


def test_deactivating_keeps_the_version(project, bob):
    client = token_client(bob)
    lf = create(client, project, REGEX).json()
    body = client.patch(f"/api/lfs/{lf['id']}/", {"active": False}, format="json").json()
    assert body["active"] is False and body["version"]["number"] == 1


def test_a_bad_pattern_in_an_edit_changes_nothing(project, bob):
    client = token_client(bob)
    lf = create(client, project, REGEX).json()
    response = client.patch(
        f"/api/lfs/{lf['id']}/", {"name": "renamed", "config": {"pattern": "[a-"}}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"message": "the pattern cannot be used: missing ]: [a-", "field": "config"}
    stored = LabelingFunction.objects.get(pk=lf["id"])
    assert stored.name == "my" and stored.versions.count() == 1


def test_deleting_hides_the_lf_but_keeps_its_row(project, bob):
    client = token_client(bob)
    lf = create(client, project, REGEX).json()
    assert client.delete(f"/api/lfs/{lf['id']}/").status_code == 204
    assert client.get(f"/api/lfs/{lf['id']}/").status_code == 404
    assert LabelingFunction.objects.get(pk=lf["id"]).deleted_at is not None


@pytest.mark.parametrize("persona", ["dana", "charlie"])
def test_viewers_and_annotators_cannot_write_lfs(project, bob, persona, request):
    lf = create(token_client(bob), project, REGEX).json()
    client = token_client(request.getfixturevalue(persona))
    assert create(client, project, KEYWORD).status_code == 403
    assert client.patch(f"/api/lfs/{lf['id']}/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/lfs/{lf['id']}/").status_code == 403
    assert [lf.name for lf in LabelingFunction.objects.live()] == ["my"]


# --- preview -------------------------------------------------------------------------------------------------------


def test_preview_shows_coverage_accuracy_and_matches_without_saving(project, bob, texts):
    response = token_client(bob).post(
        f"{lfs_url(project)}preview/",
        {"kind": "regex", "label": "SPAM", "config": {"pattern": "(?i)my"}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["n"], body["hits"], body["coverage"], body["correct"], body["incorrect"]) == (
        4,
        2,
        0.5,
        2,
        0,
    )
    assert body["empirical_accuracy"] == 1.0 and body["label"] == "SPAM"
    first = body["examples"][0]
    assert (
        first["text"] == "check out My channel" and first["spans"] == [[10, 12]] and first["gold"] == "SPAM"
    )
    assert not LabelingFunction.objects.exists()


def test_preview_of_a_bad_pattern_names_the_problem(project, bob):
    response = token_client(bob).post(
        f"{lfs_url(project)}preview/",
        {"kind": "regex", "label": "SPAM", "config": {"pattern": "(?<=x)y"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "config" and "invalid perl operator" in response.json()["message"]


def test_preview_names_an_lf_that_is_not_in_the_project(project, bob):
    response = token_client(bob).post(
        f"{lfs_url(project)}preview/",
        {**{k: REGEX[k] for k in ("kind", "label", "config")}, "lf": 99999},
        format="json",
    )
    assert response.status_code == 400 and response.json()["field"] == "lf"


def test_viewers_cannot_use_the_preview(project, dana):
    response = token_client(dana).post(
        f"{lfs_url(project)}preview/", {k: REGEX[k] for k in ("kind", "label", "config")}, format="json"
    )
    assert response.status_code == 403


# --- kinds that vote any class -----------------------------------------------------------------------------------

CODE = "def lf(x):\n    return 1 if 'my' in x.text.lower() else None\n"


def test_a_code_lf_is_written_without_a_label(project, bob):
    response = create(
        token_client(bob), project, {"name": "code", "kind": "code", "config": {"source": CODE}}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["label"], body["config"]) == ("code", None, {"source": CODE})


def test_a_regex_lf_without_a_label_is_refused(project, bob):
    response = create(token_client(bob), project, {k: REGEX[k] for k in ("name", "kind", "config")})
    assert response.status_code == 400
    assert response.json()["field"] == "label"
    assert not LabelingFunction.objects.exists()


def test_the_preview_of_a_code_lf_shows_each_examples_vote(project, bob, texts):
    response = token_client(bob).post(
        f"{lfs_url(project)}preview/", {"kind": "code", "config": {"source": CODE}}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["hits"], body["total"], body["sampled"], body["label"]) == (2, 4, False, None)
    assert {e["vote"] for e in body["examples"]} == {"SPAM"}
