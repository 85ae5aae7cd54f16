"""Adding a class on the settings page (admins): a bad name is refused in place with the problem named and
nothing changed; a good one comes last with the next key and requests the same refit as the API's PATCH."""

import pytest
from django.urls import reverse

from labeling import services as lf_services
from labeling.models import LabelModelRun
from projects.models import AuditEvent, Project
from projects.services import MAX_CLASSES
from tests.conftest import add_member, make_samples, make_user
from tests.labeling.helpers import apply_and_refit

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def fitted(project, alice):
    """Samples, one LF and its finished run: adding a class has something to refit."""
    make_samples(
        project, ["my song", "great song", "my channel"], splits=["train", "dev", "test"], gold=[0, 0, 1]
    )
    lf_services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    return apply_and_refit(project)


def _add(client, project, name, htmx=True, **extra):
    return client.post(
        reverse("class_add", args=[project.pk]), {"name": name}, **(HTMX if htmx else {}), **extra
    )


def test_an_admin_adds_a_class_and_a_refit_is_queued_as_by_the_api(
    client, project, alice, fitted, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    settings_page = client.get(reverse("workflow", args=[project.pk])).content.decode()
    assert f'hx-post="{reverse("class_add", args=[project.pk])}"' in settings_page
    assert 'id="class-add-name"' in settings_page
    # What the add leaves for after the commit (the test's transaction never commits): classes_added, so the
    # refit request. The refit's own task would go to the broker on a real commit; here it stays queued.
    with django_capture_on_commit_callbacks() as callbacks:
        response = _add(client, project, "  NEWS  ")
    assert not LabelModelRun.objects.filter(project=project, status="queued").exists()
    for callback in callbacks:
        callback()
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="classes"' in html
    assert "Added the class NEWS (key 3)." in html and '<th scope="row">NEWS</th>' in html
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM", "NEWS"]
    # The API's path: one "setting.changed" event with the old and new label lists, and a queued refit.
    event = AuditEvent.objects.get(project=project, action="setting.changed")
    assert event.actor == alice and event.details["labels"] == {
        "old": ["HAM", "SPAM"],
        "new": ["HAM", "SPAM", "NEWS"],
    }
    queued = LabelModelRun.objects.get(project=project, status="queued")
    assert queued.pk != fitted.pk


def test_without_htmx_the_add_redirects_to_the_settings_with_a_notice(client, project, alice):
    client.force_login(alice)
    followed = _add(client, project, "NEWS", htmx=False, follow=True)
    assert followed.redirect_chain[-1][0] == reverse("workflow", args=[project.pk])
    assert "Added the class NEWS (key 3)." in followed.content.decode()
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM", "NEWS"]


@pytest.mark.parametrize(
    "name, problem",
    [
        ("", "the new class name is blank; give the class a name"),
        ("   ", "the new class name is blank; give the class a name"),
        ("spam", "another class is already called 'SPAM' (class names must differ, ignoring case)"),
        ("x" * 101, "a class name can have at most 100 characters (101 given)"),
        ("a, b", "a class name cannot contain a comma or a line break ('a, b')"),
        ("abstain", "ABSTAIN is reserved"),
    ],
)
def test_a_bad_name_is_refused_in_place_and_changes_nothing(
    client, project, alice, fitted, django_capture_on_commit_callbacks, name, problem
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _add(client, project, name)
    assert response.status_code == 422 and not callbacks
    html = response.content.decode()
    assert "<html" not in html and f"Not added: {problem}".replace("'", "&#x27;") in html
    assert 'aria-invalid="true"' in html
    # Without htmx, the whole page with the same message.
    page = _add(client, project, name, htmx=False)
    assert (
        page.status_code == 422 and "<html" in page.content.decode() and "Not added:" in page.content.decode()
    )
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM"]
    assert not AuditEvent.objects.filter(project=project, action="setting.changed").exists()
    assert not LabelModelRun.objects.filter(project=project, status="queued").exists()


def test_a_project_with_every_class_it_may_have_refuses_one_more(client, project, alice):
    labels = [f"C{i}" for i in range(MAX_CLASSES)]
    Project.objects.filter(pk=project.pk).update(labels=labels)
    client.force_login(alice)
    response = _add(client, project, "ONE MORE")
    assert response.status_code == 422
    assert f"Not added: a project can have at most {MAX_CLASSES} classes" in response.content.decode()
    assert Project.objects.get(pk=project.pk).labels == labels


@pytest.mark.parametrize(
    "persona, role", [("bob", None), ("rita", "reviewer"), ("charlie", None), ("dana", None)]
)
def test_only_admins_may_add_a_class_by_page_or_fragment(client, project, persona, role, fitted):
    from django.contrib.auth import get_user_model

    user = make_user(persona) if role else get_user_model().objects.get(username=persona)
    if role:
        add_member(project, user, role)
    client.force_login(user)
    assert _add(client, project, "JUNK").status_code == 403
    assert _add(client, project, "JUNK", htmx=False).status_code == 403
    assert client.get(reverse("workflow", args=[project.pk]), **HTMX).status_code == 403
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM"]
    assert not LabelModelRun.objects.filter(project=project, status="queued").exists()


def test_an_outsider_gets_404_and_a_get_is_not_allowed(client, project, alice, eve):
    client.force_login(eve)
    assert _add(client, project, "JUNK").status_code == 404
    client.force_login(alice)
    assert client.get(reverse("class_add", args=[project.pk])).status_code == 405
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM"]
