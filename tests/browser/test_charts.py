"""Every analysis chart in Debian's Chromium, on the real YouTube data.

The LF applications and refits run in the test process with the functions the worker's tasks call (as
tests/labeling/helpers.py does), so each test costs seconds; test_end_to_end drives the real worker.

Each test opens a page, checks that the chart is drawn (an SVG with marks, its table beside it) and that
the page reported no problem, and saves a screenshot under test-output/browser/<test name>/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import make_project, make_samples, make_user, wait_for
from tests.labeling.test_youtube_real_data import KEYWORD_LF, LABELS, REGEX_LFS, read_records

pytestmark = [pytest.mark.browser]
PASSWORD = "pw-for-charts-1"
SPLIT_OF = ["train", "train", "train", "dev", "test"]


def _apply_and_refit(project):
    from labeling import application, refit, services

    for version in services.current_versions(project).filter(status="queued"):
        application.start(version.pk)
    run = services.request_refit(project=project, force=True)
    refit.refit(run.pk)
    # A live server commits, so a worker left running by an earlier test module may hold this run: wait.
    wait_for(lambda: type(run).objects.get(pk=run.pk).status in ("done", "failed"), what="the refit")
    run.refresh_from_db()
    assert run.status == "done", run.message
    return run


@pytest.fixture
def refitted(transactional_db, datasets):
    """A project with the five CSVs, the seven LFs and two finished runs (the second without "love")."""
    from labeling import services

    user = make_user("maria", PASSWORD)
    project = make_project(user, name="YouTube comments")
    records = read_records(datasets / "youtube_spam_collection")
    make_samples(
        project,
        [r["CONTENT"] for r in records],
        splits=[SPLIT_OF[i % 5] for i in range(len(records))],
        gold=[LABELS.index(r["gold"]) for r in records],
    )
    for name, pattern, label in REGEX_LFS:
        services.create_lf(
            project=project, user=user, name=name, kind="regex", label=label, config={"pattern": pattern}
        )
    name, words, label = KEYWORD_LF
    love = services.create_lf(
        project=project, user=user, name=name, kind="keyword", label=label, config={"keywords": words}
    )
    assert len(_apply_and_refit(project).lf_versions) == 7
    services.update_lf(lf=love, user=user, active=False)
    assert len(_apply_and_refit(project).lf_versions) == 6
    return project, user


def _sign_in(b, user):
    page = b.page
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(b.url("/"))


def _chart(page, selector: str, marks: str) -> int:
    chart = page.locator(f"{selector} svg")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 80, box
    count = page.locator(f"{selector} svg {marks}").count()
    assert count > 0
    return count


def test_lf_table_and_conflict_heatmap_render(refitted, browser_session):
    project, user = refitted
    b = browser_session
    _sign_in(b, user)
    page = b.page
    page.goto(f"/projects/{project.pk}/analysis/")
    expect(page.locator("table.lf-stats tbody tr")).to_have_count(6)
    page.locator("#lf-table thead").get_by_role("link", name="Coverage").click()  # sorts, by htmx
    expect(page.locator('th[aria-sort="descending"]')).to_have_count(1)
    b.shot("lf-table")
    page.locator("nav.tabs").get_by_role("link", name="Conflicts").click()
    cells = _chart(page, "#matrix-chart", "rect")
    assert cells == 36  # 6 x 6 LFs
    b.shot("conflict-heatmap")
    page.get_by_role("link", name="Overlaps").click()
    expect(page.get_by_role("heading", name="Where labeling functions overlap")).to_be_visible()
    _chart(page, "#matrix-chart", "rect")
    b.shot("overlap-heatmap")
    # A cell opens its samples.
    page.locator("#matrix-chart svg a").nth(1).click()
    expect(page.locator("#drill-title")).to_contain_text("Samples where both")
    b.shot("cell-samples")
    assert not b.problems, b.problems


def test_metrics_confusion_and_calibration_render(refitted, browser_session):
    project, user = refitted
    b = browser_session
    _sign_in(b, user)
    page = b.page
    page.goto(f"/projects/{project.pk}/analysis/metrics/")
    for split in ("dev", "test"):
        assert _chart(page, f"#confusion-chart-{split}", "rect") == 2 * 3  # gold × (classes + no label)
        assert _chart(page, f"#calibration-chart-{split}", "circle") >= 2
    expect(page.locator("#models-dev tbody tr")).to_have_count(4)
    b.shot("metrics")
    page.locator("#confusion-dev a").first.click()
    expect(page.locator("#drill-title")).to_contain_text("gold HAM")
    b.shot("confusion-cell-samples")
    page.locator(".drill-item a").first.click()
    expect(page.locator("#sample-votes")).to_be_visible()
    page.keyboard.press("2")  # labels it SPAM from the keyboard
    expect(page.locator("#hand-labels")).to_contain_text("maria: SPAM")
    b.shot("sample-labeled")
    assert not b.problems, b.problems


def test_history_line_chart_and_comparison_render(refitted, browser_session):
    project, user = refitted
    b = browser_session
    _sign_in(b, user)
    page = b.page
    page.goto(f"/projects/{project.pk}/analysis/history/")
    assert _chart(page, "#history-chart", "circle") >= 2 * 4  # two runs x four series
    expect(page.locator("#comparison")).to_contain_text("removed “love”")
    b.shot("history")
    assert not b.problems, b.problems


def test_overview_distribution_chart_renders(refitted, browser_session):
    project, user = refitted
    b = browser_session
    _sign_in(b, user)
    page = b.page
    page.goto(f"/projects/{project.pk}/")
    assert _chart(page, "#distribution-chart", "rect") >= 4  # two classes x gold and predicted
    expect(page.locator("#overview-distribution")).to_contain_text("SPAM")
    b.shot("overview")
    assert not b.problems, b.problems
