"""One labeling function open in two tabs: tab A renames it, tab B (opened before) saves a new pattern. Tab B is
told what changed and keeps its pattern; "Save mine anyway" then saves it without undoing the rename."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling import services
from labeling.models import LabelingFunction
from tests.conftest import make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


@pytest.mark.django_db(transaction=True)
def test_a_stale_tab_is_told_of_the_rename_and_saves_over_it_only_when_asked(browser_session):
    alice = make_user("alice", PASSWORD)
    project = make_project(alice)
    make_samples(project, ["call my phone number", "great song", "nice"])
    lf = services.create_lf(
        project=project, user=alice, name="phone", kind="regex", label="SPAM", config={"pattern": "phone"}
    )
    url = f"/projects/{project.pk}/lfs/{lf.pk}/"

    session = browser_session
    session.sign_in("alice", PASSWORD)
    tab_a = session.page
    expect(tab_a).to_have_url(session.url("/"))
    tab_b, b_problems = session.second_tab()
    for tab in (tab_a, tab_b):
        tab.goto(url)
        expect(tab.locator("#editor-title")).to_contain_text("Editing “phone”")

    tab_a.locator('#lf-form input[name="name"]').fill("phone number")
    tab_a.locator('#lf-form input[name="pattern"]').fill("phone number")
    tab_a.locator("#lf-form").get_by_role("button", name="Save as version 2").click()
    expect(tab_a.locator(".messages")).to_contain_text(
        "Renamed “phone” to “phone number” and saved it as version 2"
    )

    # Tab B still shows version 1 named "phone"; posting it whole would undo the rename.
    tab_b.bring_to_front()
    pattern = tab_b.locator('#lf-form input[name="pattern"]')
    pattern.fill("(?i)call")
    pattern.press("Control+Enter")
    conflict = tab_b.locator("#lf-conflict")
    expect(conflict).to_contain_text(
        "“phone” was renamed to “phone number” and saved as version 2 by alice at"
    )
    expect(conflict).to_contain_text("reload to see it, or save yours over it")
    expect(tab_b.locator('#lf-form input[name="pattern"]')).to_have_value("(?i)call")
    expect(tab_b.locator('#lf-form input[name="name"]')).to_have_value("phone number")
    anyway = tab_b.get_by_role("button", name="Save mine anyway")
    expect(anyway).to_be_focused()
    tab_b.screenshot(path=str(session.shots / "01-stale-tab-conflict.png"), full_page=True)
    lf.refresh_from_db()
    assert (lf.name, lf.current.number) == ("phone number", 2)

    anyway.click()
    expect(tab_b.locator(".messages")).to_contain_text("Saved “phone number” as version 3")
    lf = LabelingFunction.objects.select_related("current").get(pk=lf.pk)
    assert (lf.name, lf.current.number, lf.current.config) == ("phone number", 3, {"pattern": "(?i)call"})
    # The refusal was tab B's 409, nothing else went wrong in either tab.
    assert not session.problems
    assert b_problems == [f"409 for {session.url(url)}"]
