"""Page layout in a real browser at a laptop's 1280 px and a phone's 390 px: no page is wider than the window,
and the LF studio's row actions (the Delete link) can be clicked where they show, not hidden under the editor."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import make_project, make_samples, make_user

PASSWORD = "pw-for-tests-1"
PHONE = {"width": 390, "height": 844}


def _studio_project(alice):
    from labeling import services as lf_services

    project = make_project(alice, name="Spam comments", labels=("HAM", "SPAM"))
    make_samples(
        project,
        ["check out my channel", "great song", "subscribe to me", "nice video", "subscribe now"],
        gold=[1, 0, 1, 0, 1],
    )
    for name, pattern, label in [
        ("subscribe spam with a long descriptive name", "(?i)subscribe", 1),
        ("channel", "(?i)channel", 1),
        ("song", "(?i)song", 0),
    ]:
        lf_services.create_lf(
            project=project, user=alice, name=name, kind="regex", label=label, config={"pattern": pattern}
        )
    return project


def _overflow(page) -> tuple[int, int]:
    """(document width, window width) in CSS pixels."""
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _assert_clickable(page, locator) -> None:
    """The element is the one a click at its centre lands on (not a card drawn over it)."""
    locator.scroll_into_view_if_needed()
    hit = locator.evaluate(
        """el => { const r = el.getBoundingClientRect();
                   const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                   return el === top || el.contains(top); }"""
    )
    assert hit, f"a click on {locator} lands on another element"


def test_the_studios_delete_link_is_clickable_at_1280_px(worker, browser_session):
    from labeling.models import LabelingFunction

    alice = make_user("alice", PASSWORD)
    project = _studio_project(alice)
    b = browser_session
    page = b.page
    b.sign_in("alice", PASSWORD)
    page.goto(f"/projects/{project.pk}/lfs/")
    rows = page.locator("#lf-list tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#lf-list tbody .badge.done")).to_have_count(3, timeout=60_000)
    b.shot("studio-1280")
    width, window = _overflow(page)
    assert width <= window, f"the studio is {width} px wide in a {window} px window"
    # The whole table fits in its column, beside the editor card rather than under it.
    table_right = page.locator("#lf-list table").evaluate("el => el.getBoundingClientRect().right")
    editor_left = page.locator(".studio-editor").evaluate("el => el.getBoundingClientRect().left")
    assert table_right <= editor_left, (
        f"the LF table ends at {table_right} px, under the editor at {editor_left}"
    )
    delete = rows.filter(has_text="channel").get_by_role("link", name="Delete")
    _assert_clickable(page, delete)
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    expect(rows).to_have_count(2)
    assert not LabelingFunction.objects.live().filter(project=project, name="channel").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/projects/{pk}/",
        "/projects/{pk}/lfs/",
        "/projects/{pk}/label/",
        "/projects/{pk}/dashboard/",
        "/projects/{pk}/import/",
        "/projects/{pk}/workflow/",
        "/projects/{pk}/members/",
        "/projects/{pk}/exports/",
        "/projects/{pk}/analysis/",
    ],
)
def test_no_main_page_is_wider_than_a_phone(worker, chromium, live_server, path):
    alice = make_user("alice", PASSWORD)
    project = _studio_project(alice)
    context = chromium.new_context(viewport=PHONE, base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(live_server.url + "/")
        page.goto(path.format(pk=project.pk))
        page.wait_for_load_state("networkidle")
        width, window = _overflow(page)
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
                   .slice(0, 8).map(el => el.tagName + '.' + el.className + '#' + el.id + ' ' + Math.round(el.getBoundingClientRect().right))"""
        )
        assert width <= window, f"{path} is {width} px wide in a {window} px window: {wide}"
    finally:
        context.close()


LONG = "x" * 1500  # a pasted token or URL: one word longer than any window


def _long_text_project(alice):
    from labeling import services as lf_services
    from projects import services

    project = make_project(alice, name="P" + "r" * 199, labels=("HAM", "S" + "P" * 79))
    samples = make_samples(project, [f"subscribe {LONG}", "great song", "subscribe now"], gold=[1, 0, 1])
    services.add_comment(project=project, sample=samples[0], user=alice, text="c" * 4000)
    for name, pattern, label in [("L" + "f" * 99, "(?i)subscribe", 1), ("N" + "o" * 99, "(?i)sub", 0)]:
        lf_services.create_lf(
            project=project, user=alice, name=name, kind="regex", label=label, config={"pattern": pattern}
        )
    return project, samples[0]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/projects/{pk}/",
        "/projects/{pk}/label/?sample={sample}",
        "/projects/{pk}/lfs/",
        "/projects/{pk}/lfs/{lf}/",
        "/projects/{pk}/dashboard/",
        "/projects/{pk}/analysis/",
        "/projects/{pk}/analysis/conflicts/",
        "/projects/{pk}/analysis/samples/?lf={lf}",
        "/projects/{pk}/analysis/samples/0/",
        "/projects/{pk}/workflow/",
        "/projects/{pk}/review/",
    ],
)
def test_long_unbroken_user_text_wraps_inside_the_window(worker, browser_session, path):
    from labeling.models import LabelingFunction

    alice = make_user("alice", PASSWORD)
    project, sample = _long_text_project(alice)
    lf = LabelingFunction.objects.filter(project=project).order_by("pk").first()
    b = browser_session
    page = b.page
    b.sign_in("alice", PASSWORD)
    page.goto(path.format(pk=project.pk, sample=sample.pk, lf=lf.pk))
    page.wait_for_load_state("networkidle")
    b.shot("page")
    width, window = _overflow(page)
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
                 .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
                 .slice(0, 6).map(el => el.tagName + '.' + el.className)"""
    )
    assert width <= window, f"{path} is {width} px wide in a {window} px window: {wide}"
