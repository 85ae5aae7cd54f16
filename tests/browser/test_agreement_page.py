"""The agreement and annotator-quality page in a real browser: an admin marks a gold check, reads the figures
and the quality table, excludes an annotator and counts them again; a screenshot of each state."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_annotation_workflow import sign_in
from tests.conftest import add_member, make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


@pytest.mark.django_db(transaction=True)
def test_an_admin_reads_agreement_and_quality_and_excludes_an_annotator(
    chromium, live_server, browser_session
):
    from projects import services

    alice = make_user("alice", PASSWORD)
    project = make_project(alice)
    services.update_workflow(project=project, overlap=3)
    names = ("charlie", "frank", "gina")
    users = [make_user(name) for name in names]
    for user in users:
        add_member(project, user, "annotator")
    samples = make_samples(project, [f"comment number {i}" for i in range(5)])
    # The module docstring of tests/projects/test_agreement.py works these figures out by hand.
    table = {"charlie": [0, 1, 1, 0, 1], "frank": [0, 1, 1, 1, None], "gina": [0, 0, 1, None, None]}
    for user in users:
        for sample, label in zip(samples, table[user.username], strict=True):
            if label is not None:
                services.annotate(project=project, sample=sample, user=user, label=label)

    page = browser_session.page
    browser_session.sign_in("alice", PASSWORD)

    page.goto(f"/projects/{project.pk}/checks/")
    page.get_by_label("Samples to make checks").fill("s1, HAM\ns2, SPAM")
    page.get_by_role("button", name="Mark as gold checks").click()
    expect(page.locator("body")).to_contain_text("Marked 2 samples as gold checks")
    expect(page.locator("#check-list")).to_contain_text("s2")
    browser_session.shot("gold-checks")

    page.goto(f"/projects/{project.pk}/agreement/")
    expect(page.locator("#percent-agreement")).to_have_text("58.3 %")
    expect(page.locator("#krippendorff-alpha")).to_have_text("0.333")
    expect(page.locator("#agreement-pairs")).to_contain_text("0.500")
    expect(page.locator("#quality-charlie")).to_contain_text("50.0 % (1 of 2)")
    expect(page.locator("#quality-gina")).to_contain_text("100.0 % (2 of 2)")
    browser_session.shot("agreement-and-quality")

    page.locator("#quality-gina").get_by_role("button", name="Exclude labels").click()
    expect(page.locator("body")).to_contain_text("Excluded gina's labels")
    expect(page.locator("#quality-gina")).to_contain_text("excluded")
    expect(page.locator("#krippendorff-alpha")).to_have_text("0.533")
    browser_session.shot("gina-excluded")

    page.locator("#quality-gina").get_by_role("button", name="Include again").click()
    expect(page.locator("#krippendorff-alpha")).to_have_text("0.333")
    assert not browser_session.problems, browser_session.problems

    # An annotator is refused the page (and has no link to it).
    context, annotator_page, _ = sign_in(chromium, live_server, _with_password(users[0]))
    response = annotator_page.goto(f"/projects/{project.pk}/agreement/")
    assert response.status == 403
    annotator_page.goto(f"/projects/{project.pk}/")
    expect(annotator_page.get_by_role("link", name="Agreement")).to_have_count(0)
    context.close()


def _with_password(user):
    user.set_password(PASSWORD)
    user.save()
    return user
