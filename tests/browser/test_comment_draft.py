"""A comment typed on the label page is never dropped unseen, in a real browser: labeling or skipping the
sample keeps it as that sample's draft and says so; going back brings it into the field; Ctrl+Enter sends it;
an over-long comment is refused whole, with the text still in the field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_for_label_keys
from tests.conftest import make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


@pytest.mark.django_db(transaction=True)
def test_an_unsent_comment_stays_with_its_sample_until_ctrl_enter_sends_it(live_server, browser_session):
    from projects.models import Annotation, Comment

    alice = make_user("alice", PASSWORD)
    project = make_project(alice)
    s0, s1, _ = make_samples(project, ["first sample", "second sample", "third sample"])
    b = browser_session
    page = b.page
    b.sign_in("alice", PASSWORD)
    page.goto(f"/projects/{project.pk}/label/")
    wait_for_label_keys(page)
    expect(page.locator("#sample-text")).to_have_text("first sample")

    # c, a comment, Esc, then x, a reason and Enter: the skip is saved, the comment kept and the card says so.
    page.keyboard.press("c")
    page.keyboard.type("hard to tell")
    page.keyboard.press("Escape")
    page.keyboard.press("x")
    page.keyboard.type("unclear")
    page.keyboard.press("Enter")
    expect(page.locator("#sample-text")).to_have_text("second sample")
    expect(page.locator("#label-status .draft-left")).to_have_text(
        "Your comment on sample s0 was not sent: it is kept with that sample; open it again (← Back) to send it."
    )
    expect(page.locator("#comment-text")).to_have_value("")
    b.shot("skipped-with-draft")
    assert Annotation.objects.get(sample=s0, source="human").reason == "unclear"
    assert not Comment.objects.exists()

    # Back to it: the draft is in the field; Ctrl+Enter sends it.
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#sample-text")).to_have_text("first sample")
    expect(page.locator("#comment-text")).to_have_value("hard to tell")
    expect(page.locator(".draft-note")).to_contain_text("Your unsent comment on this sample is back")
    page.locator("#comment-text").press("Control+Enter")
    expect(page.locator("#comments .comment")).to_contain_text("hard to tell")
    expect(page.locator("#comment-text")).to_have_value("")
    assert Comment.objects.get().text == "hard to tell"
    b.shot("sent")

    # Sent means gone from the drafts: a reload does not bring it back.
    page.reload()
    wait_for_label_keys(page)
    expect(page.locator("#comment-text")).to_have_value("")

    # Over the limit (no maxlength cuts it in the browser): refused whole, the text stays in the field.
    long_text = "w" * 6000
    page.locator("#comment-text").fill(long_text)
    page.locator("#comment-text").press("Control+Enter")
    expect(page.locator("#comments .error")).to_have_text(
        "Comment not saved: a comment can have at most 5,000 characters and this one has 6,000; shorten it."
    )
    expect(page.locator("#comment-text")).to_have_value(long_text)
    assert Comment.objects.count() == 1
    b.shot("too-long")
    problems = [p for p in b.problems if "422" not in p]
    assert problems == [], b.problems
