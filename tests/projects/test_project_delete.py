"""Deleting a project: only its admins, only with its name typed; every row and file of it goes, after the
commit; work still queued for it finds nothing and does nothing; the audit log keeps the deletion."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling import services as lf_services
from labeling import snapshot, tasks
from labeling.models import ExportJob, LabelingFunction, LabelModelRun, LFVersion, VoteChunk
from projects import deletion, services, uploads
from projects import tasks as project_tasks
from projects.models import (
    Adjudication,
    Annotation,
    AuditEvent,
    Comment,
    ImportJob,
    Invitation,
    Membership,
    Project,
    Sample,
)
from tests.conftest import add_member, make_project, make_samples, make_user, token_client, wait_for
from tests.labeling.helpers import apply_and_refit

TEXTS = ["check my channel", "great song", "subscribe to my page", "love it", "my video", "nice tune"]
SPLITS = ["train", "train", "dev", "dev", "test", "test"]


def make_full_project(admin, name="Spam"):
    """A project with something of every kind: samples, hand labels, a comment, an adjudication, LFs (one of
    uploaded predictions) with votes, a finished run with its arrays, an import and an export with files,
    a staged upload and an invitation."""
    developer = make_user(f"dev-{name.lower()}")
    project = make_project(admin, name=name)
    add_member(project, developer, "developer")
    samples = make_samples(project, TEXTS, splits=SPLITS, gold=[1, 0, 1, 0, None, None])
    services.annotate(project=project, sample=samples[4], user=admin, label=1)
    services.add_comment(project=project, sample=samples[4], user=admin, text="an ad")
    services.adjudicate(project=project, sample=samples[5], user=admin, label=0)
    for lf_name, kind, config in [
        ("my", "regex", {"pattern": "my"}),
        ("song", "keyword", {"keywords": ["song"]}),
    ]:
        label = "SPAM" if lf_name == "my" else "HAM"
        lf_services.create_lf(
            project=project, user=developer, name=lf_name, kind=kind, label=label, config=config
        )
    lf_services.create_lf(
        project=project,
        user=developer,
        name="model",
        kind="predictions",
        label=None,
        config={"predictions": [{"id": "s0", "label": "SPAM"}, {"id": "s1", "label": "HAM"}]},
    )
    run = apply_and_refit(project)
    snapshot.rebuild(project)
    job = ImportJob.objects.create(project=project, created_by=developer, filename="c.csv", options={})
    job.file.save("c.csv", ContentFile(b"id,text\nx,hello\n"), save=True)
    export = ExportJob.objects.create(project=project, created_by=developer, format="parquet", status="done")
    export.file.save("spam.parquet", ContentFile(b"PAR1"), save=True)
    staged = uploads.stage(SessionStore(), project, SimpleUploadedFile("more.csv", b"id,text\ny,bye\n"))
    from projects import invitations

    invitations.create_invitation(project=project, by=admin, role="viewer")
    return {"project": project, "run": run, "import": job, "export": export, "staged": staged}


def files_of(world) -> dict[str, Path]:
    project, media = world["project"], Path(settings.MEDIA_ROOT)
    version = LFVersion.objects.get(lf__project=project, lf__name="model")
    return {
        "run arrays": media / "runs" / f"project-{project.pk}",
        "snapshot": snapshot.folder(project),
        "predictions": media / version.config["file"],
        "import file": Path(world["import"].file.path),
        "export file": Path(world["export"].file.path),
        "staged upload": world["staged"].path.parent,
    }


def rows_of(project_id: int) -> dict[str, int]:
    return {
        "project": Project.objects.filter(pk=project_id).count(),
        "samples": Sample.objects.filter(project_id=project_id).count(),
        "annotations": Annotation.objects.filter(project_id=project_id).count(),
        "comments": Comment.objects.filter(project_id=project_id).count(),
        "adjudications": Adjudication.objects.filter(project_id=project_id).count(),
        "lfs": LabelingFunction.objects.filter(project_id=project_id).count(),
        "versions": LFVersion.objects.filter(lf__project_id=project_id).count(),
        "runs": LabelModelRun.objects.filter(project_id=project_id).count(),
        "imports": ImportJob.objects.filter(project_id=project_id).count(),
        "exports": ExportJob.objects.filter(project_id=project_id).count(),
        "members": Membership.objects.filter(project_id=project_id).count(),
        "invitations": Invitation.objects.filter(project_id=project_id).count(),
        "audit": AuditEvent.objects.filter(project_id=project_id).count(),
    }


# --- the service --------------------------------------------------------------------------------------------


def test_it_deletes_every_row_and_file_of_the_project_and_no_other(
    db, alice, django_capture_on_commit_callbacks
):
    world = make_full_project(alice)
    other = make_full_project(alice, name="Other")
    project = world["project"]
    files = files_of(world)
    assert all(path.exists() for path in files.values()), files
    before = rows_of(project.pk)
    assert all(before.values()), before
    other_rows, other_files = rows_of(other["project"].pk), files_of(other)

    with django_capture_on_commit_callbacks(execute=True):
        done = deletion.delete_project(project=project, user=alice, confirm="Spam")

    assert rows_of(project.pk) == dict.fromkeys(before, 0)
    assert VoteChunk.objects.filter(version__lf__project_id=project.pk).count() == 0
    assert [name for name, path in files.items() if path.exists()] == []
    lock = snapshot.folder(project).parent / f".{snapshot.folder(project).name}.lock"
    assert not lock.exists()
    # The other project keeps everything.
    assert rows_of(other["project"].pk) == other_rows
    assert all(path.exists() for path in other_files.values())
    assert done.counts["samples"] == 6 and done.counts["labeling functions"] == 3
    assert done.summary().startswith("Deleted the project Spam with 6 samples, 5 hand labels, 3 labeling")


def test_the_audit_log_keeps_who_deleted_which_project(db, alice, django_capture_on_commit_callbacks):
    project = make_project(alice, name="Spam")
    make_samples(project, TEXTS[:2])
    pk = project.pk
    with django_capture_on_commit_callbacks(execute=True):
        deletion.delete_project(project=project, user=alice, confirm="Spam")
    event = AuditEvent.objects.get(action="project.deleted")
    assert (event.project_id, event.actor, event.target_type, event.target_id) == (None, alice, "project", pk)
    assert event.target_label == "Spam" and event.details["counts"]["samples"] == 2


@pytest.mark.parametrize(
    "confirm, message",
    [
        ("", "type the project's name, Spam, to confirm the deletion"),
        (None, "type the project's name, Spam, to confirm the deletion"),
        ("spam", "'spam' is not the project's name; type Spam exactly to delete it"),
        ("Other", "'Other' is not the project's name; type Spam exactly to delete it"),
        (["Spam"], "['Spam'] is not the project's name; type Spam exactly to delete it"),
    ],
)
def test_a_wrong_name_is_refused_and_deletes_nothing(
    db, alice, confirm, message, django_capture_on_commit_callbacks
):
    world = make_full_project(alice)
    project, files = world["project"], files_of(world)
    before = rows_of(project.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(services.ServiceError) as refused:
            deletion.delete_project(project=project, user=alice, confirm=confirm)
    assert refused.value.message == message and refused.value.field == "confirm"
    assert callbacks == []
    assert rows_of(project.pk) == before
    assert all(path.exists() for path in files.values())


def test_a_deletion_that_fails_leaves_rows_and_files(
    db, alice, monkeypatch, django_capture_on_commit_callbacks
):
    world = make_full_project(alice)
    project, files = world["project"], files_of(world)
    before = rows_of(project.pk)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    # After the samples went, before the commit.
    monkeypatch.setattr(deletion.audit, "record", broken)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            deletion.delete_project(project=project, user=alice, confirm="Spam")
    assert callbacks == []
    assert rows_of(project.pk) == before
    assert all(path.exists() for path in files.values())


# --- work still queued for the deleted project ----------------------------------------------------------------


def test_every_task_queued_before_the_deletion_does_nothing_after_it(
    db, alice, django_capture_on_commit_callbacks
):
    world = make_full_project(alice)
    project = world["project"]
    lf = LabelingFunction.objects.get(project=project, name="my")
    edited = lf_services.update_lf(lf=lf, user=alice, config={"pattern": "channel"})
    queued_version = edited.current_id
    VoteChunk.objects.create(version_id=queued_version, start=0, stop=6)
    queued_run = LabelModelRun.objects.create(project=project, status="queued")
    done_run = world["run"]
    export = ExportJob.objects.create(project=project, created_by=alice, format="label_matrix")
    imported = ImportJob.objects.create(project=project, created_by=alice, filename="d.csv", options={})
    with django_capture_on_commit_callbacks(execute=True):
        deletion.delete_project(project=project, user=alice, confirm="Spam")
    media = Path(settings.MEDIA_ROOT)

    tasks.apply_lf_version(queued_version)
    tasks.apply_lf_chunk(queued_version, 0)
    tasks.apply_lf_chunks([queued_version], 0)
    tasks.refit(queued_run.pk)
    tasks.compare_models(done_run.pk)
    tasks.build_export(export.pk)
    project_tasks.run_import(imported.pk)

    assert rows_of(project.pk) == dict.fromkeys(rows_of(project.pk), 0)
    assert not (media / "runs" / f"project-{project.pk}").exists()
    assert not snapshot.folder(project).exists()
    assert list((media / "exports" / "tmp").glob("*")) == []


def test_a_refit_finishing_after_the_deletion_takes_back_its_arrays(
    db, alice, monkeypatch, django_capture_on_commit_callbacks
):
    """The refit computed while the project was deleted: it stores nothing and leaves no folder behind
    (it used to fail with DoesNotExist and keep the arrays it had written)."""
    from labeling import refit as refit_service

    project = make_project(alice)
    make_samples(project, TEXTS, splits=SPLITS, gold=[1, 0, 1, 0, 1, 0])
    lf_services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    apply_and_refit(project)
    run = lf_services.request_refit(project=project, force=True)
    write = refit_service.run_arrays.write

    def delete_then_write(run, **arrays):
        # The deletion commits (and removes the files) while the refit computes; then the refit stores.
        with django_capture_on_commit_callbacks(execute=True):
            deletion.delete_project(project=project, user=alice, confirm="Spam")
        write(run, **arrays)

    monkeypatch.setattr(refit_service.run_arrays, "write", delete_then_write)
    refit_service.refit(run.pk)
    assert not (Path(settings.MEDIA_ROOT) / "runs" / f"project-{project.pk}").exists()
    assert not LabelModelRun.objects.filter(pk=run.pk).exists()


def test_a_model_comparison_finishing_after_the_deletion_leaves_no_arrays(
    db, alice, monkeypatch, django_capture_on_commit_callbacks
):
    """compare_models read the run, then the project went (files too): the arrays it rebuilt to read are
    removed again, and it returns quietly instead of failing on the missing run."""
    from labeling import refit as refit_service

    project = make_project(alice)
    make_samples(project, TEXTS, splits=SPLITS, gold=[1, 0, 1, 0, 1, 0])
    lf_services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    run = apply_and_refit(project)
    load = refit_service.run_arrays.load

    def delete_then_load(run):
        with django_capture_on_commit_callbacks(execute=True):
            deletion.delete_project(project=project, user=alice, confirm="Spam")
        return load(run)

    monkeypatch.setattr(refit_service.run_arrays, "load", delete_then_load)
    refit_service.compare_models(run.pk)
    assert not (Path(settings.MEDIA_ROOT) / "runs" / f"project-{project.pk}").exists()


def test_a_chunk_reading_rows_of_a_deleted_project_writes_no_snapshot_back(
    db, alice, django_capture_on_commit_callbacks
):
    """A chunk task that loaded its project before the deletion, and reads its rows after it, finds no rows
    and writes neither the snapshot nor its lock file again."""
    project = make_project(alice)
    make_samples(project, TEXTS)
    snapshot.rebuild(project)
    folder = snapshot.folder(project)
    lock = folder.parent / f".{folder.name}.lock"
    assert folder.is_dir() and lock.exists()
    with django_capture_on_commit_callbacks(execute=True):
        deletion.delete_project(project=project, user=alice, confirm="Spam")
    assert not folder.exists() and not lock.exists()
    with pytest.raises(RuntimeError, match="has 0 rows, expected 6"):
        snapshot.rows(project, 0, 6, 6)
    snapshot.append(project, 0, 6)
    assert not folder.exists() and not lock.exists()


def test_the_worker_takes_messages_for_a_deleted_project_and_stays_well(worker, alice):
    project = make_project(alice, name="Spam")
    make_samples(project, TEXTS, splits=SPLITS, gold=[1, 0, 1, 0, 1, 0])
    lf = lf_services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    wait_for(lambda: LabelModelRun.objects.filter(project=project, status="done").exists(), what="the refit")
    run = LabelModelRun.objects.get(project=project, status="done")
    version_id = LFVersion.objects.get(lf=lf).pk
    export = ExportJob.objects.create(project=project, created_by=alice, format="label_matrix")
    imported = ImportJob.objects.create(project=project, created_by=alice, filename="d.csv", options={})
    deletion.delete_project(project=project, user=alice, confirm="Spam")
    assert not (Path(settings.MEDIA_ROOT) / "runs" / f"project-{project.pk}").exists()

    sent = [
        tasks.apply_lf_version.delay(version_id),
        tasks.apply_lf_chunks.delay([version_id], 0),
        tasks.refit.delay(run.pk),
        tasks.compare_models.delay(run.pk),
        tasks.build_export.delay(export.pk),
        project_tasks.run_import.delay(imported.pk),
    ]
    log = Path(settings.DATA_DIR) / "test-worker.log"

    def finished():
        text = log.read_text()
        return all(f"[{result.id}] succeeded" in text for result in sent) and text

    # Each ran and returned quietly (a task that raised logs "raised unexpected" instead).
    text = wait_for(finished, what="the tasks for the deleted project")
    assert not [r.id for r in sent if f"[{r.id}] raised" in text]
    assert rows_of(project.pk) == dict.fromkeys(rows_of(project.pk), 0)
    assert not (Path(settings.MEDIA_ROOT) / "runs" / f"project-{project.pk}").exists()
    assert not snapshot.folder(project).exists()
    # And the same worker carries on with a live project's work.
    fresh = make_project(alice, name="Fresh")
    make_samples(fresh, TEXTS, splits=SPLITS, gold=[1, 0, 1, 0, 1, 0])
    lf_services.create_lf(
        project=fresh, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    wait_for(lambda: LabelModelRun.objects.filter(project=fresh, status="done").exists(), what="the refit")


# --- the settings page and its htmx form --------------------------------------------------------------------


@pytest.fixture
def team(db, alice):
    project = make_project(alice, name="Spam")
    make_samples(project, TEXTS[:3])
    users = {"admin": alice}
    for role in ("developer", "reviewer", "annotator", "viewer"):
        users[role] = make_user(role)
        add_member(project, users[role], role)
    users["outsider"] = make_user("outsider")
    return project, users


def test_the_settings_page_shows_admins_the_danger_zone(client, team):
    project, users = team
    client.force_login(users["admin"])
    html = client.get(reverse("workflow", args=[project.pk])).content.decode()
    assert "Delete this project" in html
    assert f'action="{reverse("project_delete", args=[project.pk])}"' in html
    assert "csrfmiddlewaretoken" in html.split('id="delete-project"')[1]


@pytest.mark.parametrize(
    "persona, code",
    [("developer", 403), ("reviewer", 403), ("annotator", 403), ("viewer", 403), ("outsider", 404)],
)
def test_only_an_admin_may_delete_the_project(client, team, persona, code):
    project, users = team
    client.force_login(users[persona])
    url = reverse("project_delete", args=[project.pk])
    assert client.post(url, {"confirm": "Spam"}).status_code == code
    assert client.post(url, {"confirm": "Spam"}, HTTP_HX_REQUEST="true").status_code == code
    assert Project.objects.filter(pk=project.pk).exists()
    assert Sample.objects.filter(project=project).count() == 3


def test_the_form_needs_the_csrf_token(team):
    from django.test import Client

    project, users = team
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    response = client.post(reverse("project_delete", args=[project.pk]), {"confirm": "Spam"})
    assert response.status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()


def test_a_wrong_name_gets_the_card_back_saying_so(client, team):
    project, users = team
    client.force_login(users["admin"])
    url = reverse("project_delete", args=[project.pk])
    response = client.post(url, {"confirm": "Spa"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card stack danger-zone" id="delete-project"')
    assert (
        "Not deleted: &#x27;Spa&#x27; is not the project&#x27;s name; type Spam exactly to delete it." in html
    )
    assert Sample.objects.filter(project=project).count() == 3


def test_without_htmx_a_wrong_name_redirects_to_the_card_saying_so_once(client, team):
    """Redirect after the refused POST: Back after a later delete must not land on a page to post again."""
    project, users = team
    client.force_login(users["admin"])
    url = reverse("project_delete", args=[project.pk])
    response = client.post(url, {"confirm": "Spa"})
    settings_url = reverse("workflow", args=[project.pk])
    assert response.status_code == 302 and response["Location"] == f"{settings_url}#delete-project"
    html = client.get(settings_url).content.decode()
    assert (
        "Not deleted: &#x27;Spa&#x27; is not the project&#x27;s name; type Spam exactly to delete it." in html
    )
    assert (
        'id="delete-confirm" name="confirm" type="text" autocomplete="off" spellcheck="false" value="Spa"'
        in html
    )
    # Said once: a reload shows the card as new.
    assert "Not deleted" not in client.get(settings_url).content.decode()
    response = client.post(url, {"confirm": ""}, follow=True)
    assert (
        "Not deleted: type the project&#x27;s name, Spam, to confirm the deletion."
        in response.content.decode()
    )
    assert Sample.objects.filter(project=project).count() == 3


def test_an_admin_deletes_the_project_and_lands_on_the_list_with_a_message(client, team):
    project, users = team
    client.force_login(users["admin"])
    response = client.post(reverse("project_delete", args=[project.pk]), {"confirm": "Spam"}, follow=True)
    assert response.redirect_chain == [(reverse("project_list"), 302)]
    assert "Deleted the project Spam with 3 samples, 5 members." in response.content.decode()
    for name in ("project_detail", "workflow", "label", "members"):
        assert client.get(reverse(name, args=[project.pk])).status_code == 404
    assert not Project.objects.filter(pk=project.pk).exists()


def test_the_htmx_form_redirects_the_browser_to_the_list(client, team):
    project, users = team
    client.force_login(users["admin"])
    response = client.post(
        reverse("project_delete", args=[project.pk]), {"confirm": "Spam"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("project_list")
    assert not Project.objects.filter(pk=project.pk).exists()


# --- the API --------------------------------------------------------------------------------------------------


def test_the_api_deletes_with_the_name_in_the_body_or_the_query(team, alice):
    project, users = team
    api = token_client(alice)
    url = reverse("api_project", args=[project.pk])
    response = api.delete(url, {"confirm": "Spam"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["id"] == project.pk and body["name"] == "Spam"
    assert body["deleted"]["samples"] == 3 and body["deleted"]["members"] == 5
    assert api.get(url).status_code == 404
    other = make_project(alice, name="Other")
    assert api.delete(reverse("api_project", args=[other.pk]) + "?confirm=Other").status_code == 200
    assert not Project.objects.filter(pk=other.pk).exists()


def test_the_api_refuses_without_the_right_name(team, alice):
    project, users = team
    api = token_client(alice)
    url = reverse("api_project", args=[project.pk])
    missing = api.delete(url)
    assert missing.status_code == 400
    assert missing.json() == {
        "message": "type the project's name, Spam, to confirm the deletion",
        "field": "confirm",
    }
    wrong = api.delete(url + "?confirm=Ham")
    assert wrong.status_code == 400
    assert wrong.json()["message"] == "'Ham' is not the project's name; type Spam exactly to delete it"
    assert Sample.objects.filter(project=project).count() == 3


@pytest.mark.parametrize(
    "persona, code",
    [("developer", 403), ("reviewer", 403), ("annotator", 403), ("viewer", 403), ("outsider", 404)],
)
def test_the_api_lets_only_admins_delete(team, persona, code):
    project, users = team
    response = token_client(users[persona]).delete(
        reverse("api_project", args=[project.pk]), {"confirm": "Spam"}, format="json"
    )
    assert response.status_code == code
    assert Project.objects.filter(pk=project.pk).exists()


def test_the_schema_documents_the_delete_and_its_confirm_parameter(client, alice):
    client.force_login(alice)
    schema = client.get(reverse("api_schema"), {"format": "json"}).json()
    operation = schema["paths"]["/api/projects/{id}/"]["delete"]
    assert "admins" in operation["summary"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["confirm"]
    assert set(operation["responses"]) == {"200", "400"}
    assert "confirm" in operation["description"]


def test_the_django_admin_deletes_through_the_service(client, db, alice, django_capture_on_commit_callbacks):
    from django.contrib.auth import get_user_model

    world = make_full_project(alice)
    project, files = world["project"], files_of(world)
    staff = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-1")
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:projects_project_delete", args=[project.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert rows_of(project.pk) == dict.fromkeys(rows_of(project.pk), 0)
    assert [name for name, path in files.items() if path.exists()] == []
    assert AuditEvent.objects.get(action="project.deleted").actor == staff
