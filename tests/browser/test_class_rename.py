"""Renaming a class on the settings page in a real browser: a blank name and a duplicate are refused in place
with the problem named, a good name replaces the old one in the card, and the labeling page's buttons, the
label saved with a key and the project overview show the new name, on the same hand labels."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_for_label_keys
from tests.conftest import add_member, make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


@pytest.mark.django_db(transaction=True)
def test_an_admin_renames_a_class_and_the_pages_follow(live_server, browser_session):
    from projects.models import Annotation, Project

    alice = make_user("alice", PASSWORD)
    project = make_project(alice)
    add_member(project, make_user("charlie"), "annotator")
    make_samples(project, ["check out my channel", "great song", "subscribe"], gold=[1, 0, None])
    page = browser_session.page
    browser_session.sign_in("alice", PASSWORD)

    settings_url = f"/projects/{project.pk}/workflow/"
    rename_url = browser_session.url(f"/projects/{project.pk}/classes/1/")
    page.goto(settings_url)
    row = page.locator("#class-1")
    expect(row.get_by_role("rowheader")).to_have_text("SPAM")
    browser_session.shot("classes")

    # Refused in place, with the problem named; the card still says SPAM and nothing changed.
    since = len(browser_session.requests)
    page.get_by_label("New name for SPAM").fill("   ")
    row.get_by_role("button", name="Rename").click()
    expect(page.locator("#class-status")).to_have_text(
        "Not renamed: the new class name is blank; give the class a name."
    )
    expect(page.locator("#class-1").get_by_role("rowheader")).to_have_text("SPAM")
    page.get_by_label("New name for SPAM").fill("ham")
    page.locator("#class-1").get_by_role("button", name="Rename").click()
    expect(page.locator("#class-status")).to_contain_text(
        "Not renamed: another class is already called 'HAM' (class names must differ, ignoring case)."
    )
    expect(page.get_by_label("New name for SPAM")).to_have_value("ham")
    browser_session.shot("duplicate-refused")
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "SPAM"]
    # Each refusal came back as the card (htmx), not as a page load.
    posts = [r for r in browser_session.requests[since:] if r[0] == "POST"]
    assert posts == [("POST", rename_url, True)] * 2
    # The only problems are the two refusals (and Chromium's console line for each); no script error.
    refused = "console error: Failed to load resource: the server responded with a status of 422"
    assert sorted(browser_session.problems) == sorted(
        [f"422 for {rename_url}"] * 2 + [f"{refused} (Unprocessable Entity)"] * 2
    ), browser_session.problems
    browser_session.problems.clear()

    page.get_by_label("New name for SPAM").fill("JUNK")
    page.locator("#class-1").get_by_role("button", name="Rename").click()
    expect(page.locator("#class-status")).to_have_text(
        "Renamed the class SPAM to JUNK; every label of it keeps pointing to it."
    )
    expect(page.locator("#class-1").get_by_role("rowheader")).to_have_text("JUNK")
    expect(page).to_have_url(browser_session.url(settings_url))
    browser_session.shot("renamed")
    assert Project.objects.get(pk=project.pk).labels == ["HAM", "JUNK"]

    # The labeling page names the class anew, and its key labels the same class (index 1).
    page.goto(f"/projects/{project.pk}/label/")
    buttons = page.locator(".label-buttons button[name=label]")
    expect(buttons).to_have_text(["1 HAM", "2 JUNK"])
    wait_for_label_keys(page)
    page.keyboard.press("2")
    expect(page.locator("#label-status")).to_contain_text("Saved JUNK for sample s0")
    assert Annotation.objects.get(project=project, annotator=alice).label == 1
    browser_session.shot("labeled-junk")

    # The overview's gold distribution: the imported SPAM label is JUNK's.
    page.goto(f"/projects/{project.pk}/")
    expect(page.get_by_role("rowheader", name="JUNK")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("SPAM")
    assert not browser_session.problems, browser_session.problems
