"""A field rule on a field no sample has, written in the LF studio in a real browser: the live preview says no
sample has the field and lists the fields there are; saving it is refused with the same message and makes
nothing; the same rule on a field the samples have previews and saves."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labeling.models import LabelingFunction
from projects.models import Sample
from tests.conftest import make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"
MISSING = "no sample in this project has the field 'stars'; the samples' fields are: text, author, likes"


@pytest.mark.django_db(transaction=True)
def test_a_rule_on_a_missing_field_is_explained_in_the_preview_and_not_saved(live_server, browser_session):
    alice = make_user("alice", PASSWORD)
    project = make_project(alice)
    made = make_samples(project, ["great song", "check my channel", "nice"])
    for sample, fields in zip(made, [{"likes": "40", "author": "ann"}, {"likes": "2"}, {}], strict=True):
        Sample.objects.filter(pk=sample.pk).update(fields=fields)

    b = browser_session
    page = b.page
    b.sign_in("alice", PASSWORD)
    page.goto(f"/projects/{project.pk}/lfs/")
    page.get_by_label("Name", exact=True).fill("popular")
    page.get_by_label("Field rule", exact=True).check()
    form = page.locator("#lf-form")
    form.locator('input[name="field"]').fill("stars")
    form.locator('select[name="op"]').select_option("gt")
    form.locator('input[name="value"]').fill("10")
    preview = page.locator("#preview")
    expect(preview.get_by_role("alert")).to_have_text(MISSING)
    b.shot("preview-missing-field")

    form.get_by_role("button", name="Save").click()
    expect(page.locator("#lf-form").get_by_role("alert")).to_have_text(MISSING)
    b.shot("save-refused")
    assert not LabelingFunction.objects.filter(project=project).exists()

    # The field the samples have: the preview counts its votes, and it saves.
    page.locator('#lf-form input[name="field"]').fill("likes")
    expect(preview).to_contain_text("votes on 1 of 3 samples")
    page.locator("#lf-form").get_by_role("button", name="Save").click()
    expect(page.locator("body")).to_contain_text("Saved “popular” as version 1")
    lf = LabelingFunction.objects.get(project=project)
    assert lf.current.config["field"] == "likes"
    # The refused save answered 422 (the browser logs it too); nothing else went wrong.
    assert f"422 for {b.url(f'/projects/{project.pk}/lfs/')}" in b.problems
    assert [p for p in b.problems if "422" not in p] == []
