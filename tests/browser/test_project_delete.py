"""Deleting a project from its settings page in a real browser: a wrong name is refused in place and deletes
nothing; the right name deletes it and lands on the project list saying what went; its pages are 404 after."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import add_member, make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


@pytest.mark.django_db(transaction=True)
def test_an_admin_deletes_a_project_by_typing_its_name(live_server, browser_session):
    from projects.models import Project, Sample

    alice = make_user("alice", PASSWORD)
    project = make_project(alice, name="Spam comments")
    keep = make_project(alice, name="Keep me")
    add_member(project, make_user("charlie"), "annotator")
    make_samples(project, ["check out my channel", "great song", "subscribe"], gold=[1, 0, None])
    page = browser_session.page
    browser_session.sign_in("alice", PASSWORD)

    settings_url = f"/projects/{project.pk}/workflow/"
    delete_url = browser_session.url(f"/projects/{project.pk}/delete/")
    page.goto(settings_url)
    card = page.locator("#delete-project")
    expect(card.get_by_role("heading")).to_have_text("Delete this project")
    browser_session.shot("danger-zone")

    # A wrong name: refused in the card, by htmx, and the project is all there.
    since = len(browser_session.requests)
    page.get_by_label("Type the project's name").fill("Spam")
    card.get_by_role("button", name="Delete this project").click()
    expect(page.locator("#delete-status")).to_have_text(
        "Not deleted: 'Spam' is not the project's name; type Spam comments exactly to delete it."
    )
    expect(page.get_by_label("Type the project's name")).to_have_value("Spam")
    expect(page).to_have_url(browser_session.url(settings_url))
    browser_session.shot("wrong-name")
    posts = [r for r in browser_session.requests[since:] if r[0] == "POST"]
    assert posts == [("POST", delete_url, True)]
    assert Project.objects.filter(pk=project.pk).exists()
    assert Sample.objects.filter(project=project).count() == 3
    refused = "console error: Failed to load resource: the server responded with a status of 422"
    assert sorted(browser_session.problems) == sorted(
        [f"422 for {delete_url}", f"{refused} (Unprocessable Entity)"]
    ), browser_session.problems
    browser_session.problems.clear()

    # The right name: the project goes, and the list says what went.
    page.get_by_label("Type the project's name").fill("Spam comments")
    page.locator("#delete-project").get_by_role("button", name="Delete this project").click()
    expect(page).to_have_url(browser_session.url("/"))
    expect(page.locator(".messages")).to_have_text(
        "Deleted the project Spam comments with 3 samples, 2 hand labels, 2 members."
    )
    expect(page.get_by_role("link", name="Keep me")).to_be_visible()
    expect(page.get_by_role("link", name="Spam comments")).to_have_count(0)
    browser_session.shot("deleted")
    assert [r for r in browser_session.requests if r[0] == "POST" and r[1] == delete_url] == [
        ("POST", delete_url, True),
        ("POST", delete_url, True),
    ]
    assert not Project.objects.filter(pk=project.pk).exists()
    assert Project.objects.filter(pk=keep.pk).exists()
    assert not browser_session.problems, browser_session.problems

    # Its pages are gone.
    response = page.goto(f"/projects/{project.pk}/")
    assert response is not None and response.status == 404
    response = page.goto(settings_url)
    assert response is not None and response.status == 404


@pytest.mark.django_db(transaction=True)
def test_back_after_a_refused_then_a_done_delete_posts_nothing_again(live_server, browser_session):
    """Without htmx (scripts off) the refused delete redirects to the settings page; Back after the delete
    that worked goes to that page (now 404, the project is gone), never to a form answer to post again."""
    from projects.models import Project

    alice = make_user("alice", PASSWORD)
    project = make_project(alice, name="Spam comments")
    page = browser_session.page
    page.context.route("**/vendor/htmx.min.js", lambda route: route.abort())
    browser_session.sign_in("alice", PASSWORD)
    settings_url = f"/projects/{project.pk}/workflow/"
    page.goto(settings_url)
    page.get_by_label("Type the project's name").fill("Spam")
    page.locator("#delete-project").get_by_role("button", name="Delete this project").click()
    expect(page).to_have_url(browser_session.url(settings_url + "#delete-project"))
    expect(page.locator("#delete-status")).to_have_text(
        "Not deleted: 'Spam' is not the project's name; type Spam comments exactly to delete it."
    )
    expect(page.get_by_label("Type the project's name")).to_have_value("Spam")
    page.get_by_label("Type the project's name").fill("Spam comments")
    page.locator("#delete-project").get_by_role("button", name="Delete this project").click()
    expect(page).to_have_url(browser_session.url("/"))
    assert not Project.objects.filter(pk=project.pk).exists()
    since = len(browser_session.requests)
    response = page.go_back()
    # The settings page again, by GET: the project is gone, so it is a 404.
    assert response is not None and response.request.method == "GET" and response.status == 404
    assert [r for r in browser_session.requests[since:] if r[0] == "POST"] == []
