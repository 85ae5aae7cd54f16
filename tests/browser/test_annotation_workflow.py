"""Two annotators and a reviewer work one project in a browser: different samples at the same time, overlap 2,
keys for labels, a skip with a reason and a comment, blind pages, and the reviewer adjudicating with keys."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SHOTS, wait_for_label_keys
from tests.conftest import add_member, make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"


def sign_in(chromium, live_server, user):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on("response", lambda res: res.status >= 400 and problems.append(f"{res.status} for {res.url}"))
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/")
    return context, page, problems


def shot(page, name: str) -> None:
    folder = SHOTS / "annotation-workflow"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def shown(page) -> str:
    return page.locator("#sample-text").inner_text()


def press_and_wait(page, key: str, status: str):
    wait_for_label_keys(page)
    page.keyboard.press(key)
    expect(page.locator("#label-status")).to_contain_text(status)
    expect(page.locator("#label-card")).to_be_focused()


@pytest.mark.django_db(transaction=True)
def test_two_annotators_and_a_reviewer_work_the_same_project(chromium, live_server):
    from projects import services
    from projects.models import Adjudication, Annotation, Comment, Sample

    alice = make_user("alice", PASSWORD)
    charlie, frank, rita = (make_user(name, PASSWORD) for name in ("charlie", "frank", "rita"))
    project = make_project(alice, instructions="SPAM advertises something.")
    add_member(project, charlie, "annotator")
    add_member(project, frank, "annotator")
    add_member(project, rita, "reviewer")
    services.update_workflow(project=project, overlap=2, skip_reasons=["Not English"])
    make_samples(project, ["check out my channel", "great song", "???"])
    label_url = f"/projects/{project.pk}/label/"

    c_context, c_page, c_problems = sign_in(chromium, live_server, charlie)
    f_context, f_page, f_problems = sign_in(chromium, live_server, frank)
    try:
        # Both open the label page at once: each gets a sample of their own.
        c_page.goto(label_url)
        f_page.goto(label_url)
        assert shown(c_page) == "check out my channel"
        assert shown(f_page) == "great song"
        expect(c_page.locator(".instructions")).to_contain_text("SPAM advertises something.")

        press_and_wait(c_page, "1", "Saved HAM for sample s0")
        # Overlap 2: frank's sample is still his, so charlie gets the third one; he comments on it with c.
        assert shown(c_page) == "???"
        c_page.keyboard.press("c")
        expect(c_page.locator("#comment-text")).to_be_focused()
        c_page.keyboard.type("three question marks, nothing to label")
        c_page.get_by_role("button", name="Add comment").click()
        expect(c_page.locator("#comments")).to_contain_text("three question marks, nothing to label")
        shot(c_page, "01-annotator-commented")
        # x: skip with a reason, typed into its field and sent with Enter.
        c_page.locator("#label-card").focus()
        c_page.keyboard.press("x")
        expect(c_page.locator("#skip-reason")).to_be_focused()
        c_page.keyboard.type("Not English")
        c_page.keyboard.press("Enter")
        expect(c_page.locator("#label-status")).to_contain_text("Skipped sample s2")
        expect(c_page.locator("#label-card")).to_be_focused()

        press_and_wait(f_page, "2", "Saved SPAM for sample s1")
        assert shown(f_page) == "check out my channel"  # one label of two: frank's turn
        press_and_wait(f_page, "2", "Saved SPAM for sample s0")
        assert shown(f_page) == "???"
        press_and_wait(f_page, "1", "Saved HAM for sample s2")

        # charlie's queue now has s1 (frank's SPAM); blind: nothing on his page says so.
        c_page.goto(label_url)
        assert shown(c_page) == "great song"
        html = c_page.content()
        assert "frank" not in html and "Others' labels" not in html
        press_and_wait(c_page, "1", "Saved HAM for sample s1")
        expect(c_page.locator(".empty")).to_contain_text("nothing left in your queue")
        assert not c_problems and not f_problems, c_problems + f_problems
    finally:
        c_context.close()
        f_context.close()

    assert Comment.objects.get().author == charlie
    assert Annotation.objects.get(annotator=charlie, sample__row=2).reason == "Not English"
    assert Sample.objects.filter(project=project, disputed=True).count() == 2  # s0 and s1

    r_context, r_page, r_problems = sign_in(chromium, live_server, rita)
    try:
        r_page.get_by_role("link", name=project.name).first.click()
        r_page.get_by_role("navigation", name="Project").get_by_role("link", name="Review").click()
        expect(r_page.get_by_test_id("review-progress")).to_contain_text("2 disagreements")
        assert shown(r_page) == "check out my channel"
        shot(r_page, "02-reviewer-disagreement")
        table = r_page.get_by_test_id("hand-labels")
        expect(table).to_contain_text("charlie")
        expect(table).to_contain_text("frank")
        press_and_wait(r_page, "2", "Adjudicated sample s0 as SPAM")
        assert shown(r_page) == "great song"
        expect(r_page.get_by_test_id("review-progress")).to_contain_text("1 disagreement ")
        press_and_wait(r_page, "1", "Adjudicated sample s1 as HAM")
        expect(r_page.locator(".empty")).to_contain_text("No disagreements to review")
        assert not r_problems, r_problems
    finally:
        r_context.close()

    gold = dict(Sample.objects.filter(project=project).values_list("row", "gold_label"))
    assert gold == {0: 1, 1: 0, 2: 0}  # adjudicated SPAM, adjudicated HAM, frank's HAM (charlie skipped)
    assert Adjudication.objects.filter(reviewer=rita).count() == 2


@pytest.mark.django_db(transaction=True)
def test_presses_made_while_a_label_is_saving_are_told_not_dropped(chromium, live_server, monkeypatch):
    import time

    from projects import services
    from projects.models import Annotation

    alice = make_user("alice", PASSWORD)
    charlie = make_user("charlie", PASSWORD)
    project = make_project(alice)
    add_member(project, charlie, "annotator")
    make_samples(project, ["one", "two", "three", "four"])
    real = services.annotate

    def slow_annotate(**kwargs):
        time.sleep(1.0)  # a slow server: the presses below come while the first save is in flight
        return real(**kwargs)

    monkeypatch.setattr(services, "annotate", slow_annotate)
    context, page, problems = sign_in(chromium, live_server, charlie)
    try:
        page.goto(f"/projects/{project.pk}/label/")
        assert shown(page) == "one"
        for _ in range(3):
            page.keyboard.press("2")
        expect(page.locator("#label-status")).to_contain_text("Saved")
        note = page.locator("#label-status .refused-presses")
        expect(note).to_contain_text("2 key presses were not used while the last label was saving")
        assert shown(page) == "two"
        assert Annotation.objects.filter(annotator=charlie).count() == 1
        shot(page, "refused-presses")
        assert problems == []
    finally:
        context.close()
