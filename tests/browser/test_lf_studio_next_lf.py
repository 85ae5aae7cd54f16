"""The README's flow in the LF studio, in a real browser: save a labeling function, then type the next one into
the form the studio shows and save it. Both must exist afterwards: the second save makes a new LF and leaves the
first one as it was (it used to rename and redefine the first one). Editing names the LF the form changes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import LabelingFunction
from tests.conftest import make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


def _write(page, name, pattern, label):
    form = page.locator("#lf-form")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Regex", exact=True).check()
    form.locator('input[name="pattern"]').fill(pattern)
    form.get_by_label("Label it votes for").select_option(label)
    form.locator('input[name="pattern"]').press("Control+Enter")


@pytest.mark.django_db(transaction=True)
def test_saving_a_second_lf_in_the_form_shown_after_the_first_makes_a_new_one(live_server, browser_session):
    alice = make_user("alice", PASSWORD)
    project = make_project(alice)
    make_samples(project, ["subscribe to me", "great song", "nice"])

    b = browser_session
    page = b.page
    b.sign_in("alice", PASSWORD)
    page.goto(f"/projects/{project.pk}/lfs/")

    _write(page, "subscribe", "(?i)subscribe", "SPAM")
    messages = page.locator(".messages")
    expect(messages).to_contain_text("Saved “subscribe” as version 1")
    subscribe = LabelingFunction.objects.get(project=project, name="subscribe")
    # A fresh form for the next LF, the cursor in its first field; the message links to the one saved.
    expect(page).to_have_url(b.url(f"/projects/{project.pk}/lfs/"))
    expect(page.locator("#editor-title")).to_have_text("New labeling function")
    name = page.locator("#lf-form").get_by_label("Name", exact=True)
    expect(name).to_have_value("")
    expect(name).to_be_focused()
    edit_link = messages.get_by_role("link", name="Edit “subscribe”")
    expect(edit_link).to_have_attribute("href", f"/projects/{project.pk}/lfs/{subscribe.pk}/")
    b.shot("first-saved")

    _write(page, "song", "(?i)song", "HAM")
    expect(messages).to_contain_text("Saved “song” as version 1")
    b.shot("second-saved")

    lfs = {
        lf.name: lf
        for lf in LabelingFunction.objects.live().filter(project=project).select_related("current")
    }
    assert sorted(lfs) == ["song", "subscribe"]
    first, second = lfs["subscribe"], lfs["song"]
    assert first.pk == subscribe.pk and second.pk != subscribe.pk

    def state(lf):
        return lf.current.number, lf.current.config["pattern"], project.label_name(lf.current.label)

    assert state(first) == (1, "(?i)subscribe", "SPAM")
    assert state(second) == (1, "(?i)song", "HAM")
    rows = page.locator("#lf-list tbody tr")
    expect(rows).to_have_count(2)

    # Editing says which LF the form changes, and a new name is reported as a rename.
    page.locator("#lf-list").get_by_role("link", name="subscribe", exact=True).click()
    expect(page.locator("#editor-title")).to_contain_text("Editing “subscribe”")
    expect(page.locator("#editing-note")).to_contain_text("Saving this form changes “subscribe”")
    page.locator('#lf-form input[name="name"]').fill("subscribe spam")
    page.locator("#lf-form").get_by_role("button", name="Save as version 2").click()
    expect(messages).to_contain_text("Renamed “subscribe” to “subscribe spam”")
    first.refresh_from_db()
    assert first.name == "subscribe spam"
    assert b.problems == []
