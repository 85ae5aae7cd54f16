"""Error pages: a person gets a page that says what happened and where to go, never Django's bare one."""

from django.test import Client
from django.urls import reverse


def test_an_unknown_page_says_so_and_links_home(client, alice):
    client.force_login(alice)
    response = client.get("/projects/999999/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Nothing here" in html
    assert "/projects/999999/" in html
    assert reverse("project_list") in html
    assert "alice" in html  # the usual header: signed in, with the account link


def test_the_api_still_answers_unknown_addresses_in_json(client, alice):
    client.force_login(alice)
    response = client.get("/api/nothing-here/")
    assert response.status_code == 404
    assert "there is nothing at /api/nothing-here/" in response.json()["message"]


def test_a_refused_page_names_the_role(client, project, dana):
    client.force_login(dana)  # a viewer: exports are for developers and admins
    response = client.get(reverse("exports", args=[project.pk]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed" in html
    assert "Your role in this project (viewer) does not allow this." in html


def test_an_expired_form_says_nothing_was_saved(project, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = list(project.labels)
    response = client.post(reverse("class_add", args=[project.pk]), {"name": "NEWS"})
    assert response.status_code == 403
    assert "The form expired" in response.content.decode()
    project.refresh_from_db()
    assert project.labels == before


def test_the_server_error_page_renders_without_a_request_context(rf):
    from django.views import defaults

    response = defaults.server_error(rf.get("/anything/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
