"""Adding a class on the settings page in a real browser: a blank, a duplicate and a too-long name are refused
in place with the problem named, a good name appears last in the card with the next key and a notice, and
the labeling page offers it under that key."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import add_member, make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


@pytest.mark.django_db(transaction=True)
def test_an_admin_adds_a_class_and_the_labeling_page_offers_it(live_server, browser_session):
    from projects.models import Project

    alice = make_user("alice", PASSWORD)
    project = make_project(alice)
    add_member(project, make_user("charlie"), "annotator")
    make_samples(project, ["check out my channel", "great song"], gold=[1, 0])
    page = browser_session.page
    browser_session.sign_in("alice", PASSWORD)

    settings_url = f"/projects/{project.pk}/workflow/"
    add_url = browser_session.url(f"/projects/{project.pk}/classes/")
    page.goto(settings_url)
    expect(page.get_by_label("New class")).to_have_value("")

    since = len(browser_session.requests)
    refusals = [
        ("  ", "Not added: the new class name is blank; give the class a name."),
        (
            "spam",
            "Not added: another class is already called 'SPAM' (class names must differ, ignoring case).",
        ),
        ("N" * 101, "Not added: a class name can have at most 100 characters (101 given)."),
    ]
    for name, message in refusals:
        page.get_by_label("New class").fill(name)
        page.get_by_role("button", name="Add class").click()
        expect(page.locator("#class-add-status")).to_have_text(message)
        # The typed name stays for correcting, and the field keeps the keyboard.
        expect(page.get_by_label("New class")).to_have_value(name)
        expect(page.get_by_label("New class")).to_be_focused()
    browser_session.shot("class-add-refused")
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM"]
    # Each refusal came back as the card (htmx), not as a page load.
    posts = [r for r in browser_session.requests[since:] if r[0] == "POST"]
    assert posts == [("POST", add_url, True)] * 3
    refused = "console error: Failed to load resource: the server responded with a status of 422"
    assert sorted(browser_session.problems) == sorted(
        [f"422 for {add_url}"] * 3 + [f"{refused} (Unprocessable Entity)"] * 3
    ), browser_session.problems
    browser_session.problems.clear()

    page.get_by_label("New class").fill("NEWS")
    page.get_by_role("button", name="Add class").click()
    expect(page.locator("#class-add-status")).to_have_text(
        "Added the class NEWS (key 3). A refit is requested so that the label model learns it; "
        "until it is done, the latest run gives NEWS no probability."
    )
    expect(page.locator("#class-2").get_by_role("rowheader")).to_have_text("NEWS")
    expect(page.locator("#class-2 kbd")).to_have_text("3")
    expect(page.get_by_label("New class")).to_have_value("")
    expect(page).to_have_url(browser_session.url(settings_url))
    browser_session.shot("class-added")
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM", "NEWS"]

    # The labeling page has a button for it under its key.
    page.goto(f"/projects/{project.pk}/label/")
    expect(page.locator(".label-buttons button[name=label]")).to_have_text(["1 HAM", "2 SPAM", "3 NEWS"])
    assert not browser_session.problems, browser_session.problems
