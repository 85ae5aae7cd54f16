"""One annotator, one sample open in two tabs: the second tab's label is refused with what the first saved,
and a key replaces it only when asked."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_for_label_keys
from tests.conftest import add_member, make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


@pytest.mark.django_db(transaction=True)
def test_a_stale_tab_is_told_and_replaces_the_label_only_on_its_key(browser_session):
    from projects.models import Annotation

    alice, charlie = make_user("alice", PASSWORD), make_user("charlie", PASSWORD)
    project = make_project(alice)
    add_member(project, charlie, "annotator")
    sample, _ = make_samples(project, ["win a free phone", "see you at lunch"])
    url = f"/projects/{project.pk}/label/?sample={sample.pk}"

    session = browser_session
    session.sign_in("charlie", PASSWORD)
    tab_a = session.page
    expect(tab_a).to_have_url(session.url("/"))
    tab_b, b_problems = session.second_tab()
    for tab in (tab_a, tab_b):
        tab.goto(url)
        expect(tab.locator("#sample-text")).to_have_text("win a free phone")

    tab_a.locator("#label-card").focus()
    wait_for_label_keys(tab_a)
    tab_a.keyboard.press("2")
    expect(tab_a.locator("#label-status")).to_contain_text("Saved SPAM for sample s0")

    # Tab B still shows the sample unlabeled; its HAM would silently replace tab A's SPAM.
    tab_b.bring_to_front()
    tab_b.locator("#label-card").focus()
    wait_for_label_keys(tab_b)
    tab_b.keyboard.press("1")
    conflict = tab_b.get_by_test_id("label-conflict")
    expect(conflict).to_contain_text("It is now SPAM, by charlie at")
    expect(tab_b.locator(".sample-id")).to_contain_text("you labeled this SPAM")
    replace = tab_b.get_by_role("button", name="Replace it with mine: HAM")
    expect(replace).to_be_focused()
    tab_b.screenshot(path=str(session.shots / "01-stale-tab-conflict.png"), full_page=True)
    assert Annotation.objects.get(sample=sample, annotator=charlie).label == 1

    tab_b.keyboard.press("Shift+R")
    expect(tab_b.locator("#label-status")).to_contain_text("Saved HAM for sample s0")
    expect(tab_b.locator("#sample-text")).to_have_text("see you at lunch")
    assert Annotation.objects.get(sample=sample, annotator=charlie).label == 0
    # The refusal was the 409 of tab B's label post, nothing else went wrong in either tab.
    assert not session.problems
    assert b_problems == [f"409 for {session.url(f'/projects/{project.pk}/label/')}"]
