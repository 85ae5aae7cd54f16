"""The whole labeling loop in a real browser, on one real file of the YouTube Spam Collection.

One admin signs in, creates the project, uploads Youtube01-Psy.csv, labels three samples with the keyboard
(and changes one), writes a regex labeling function with its live preview, watches the refit finish and reads
the dashboard. The server is pytest-django's live server; imports, LF votes and the refit run in the real
Celery worker. Every figure read off a page is checked against one computed here from the CSV with Python's
csv and re modules.
"""

from __future__ import annotations

import csv
import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import wait_for_label_keys
from tests.conftest import make_user, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker]

LABELS = ["HAM", "SPAM"]
CLASS_NAMES = {"0": "HAM", "1": "SPAM"}
PATTERN = "(?i)check.*out"
LF_LABEL = "SPAM"
PASSWORD = "a-browser-password-7"


# --- the independent side: plain Python over the CSV ----------------------------------------------------------


def read_rows(path) -> list[dict]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def pct(value: float | None) -> str:
    """How the labeling pages write a share (labeling_format.pct): one decimal and a percent sign."""
    return "n/a" if value is None else f"{value * 100:.1f} %"


def dec(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def macro_f1(pairs: list[tuple[str | None, str]]) -> float | None:
    """Mean F1 over the classes that have gold samples among `pairs` (predicted, gold); None = no label."""
    f1s = []
    for c in LABELS:
        tp = sum(1 for p, g in pairs if p == c and g == c)
        predicted = sum(1 for p, _ in pairs if p == c)
        actual = sum(1 for _, g in pairs if g == c)
        if not actual:
            continue
        precision, recall = (tp / predicted if predicted else 0.0), tp / actual
        f1s.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return sum(f1s) / len(f1s) if f1s else None


def split_figures(rows: list[int], pred: list[str | None], gold: list[str | None]) -> dict:
    """The dashboard's row for one split: over its hand-labeled samples, coverage beside accuracy."""
    pairs = [(pred[r], gold[r]) for r in rows if gold[r] is not None]
    covered = [(p, g) for p, g in pairs if p is not None]
    correct = sum(1 for p, g in covered if p == g)
    return {
        "n": len(rows),
        "n_gold": len(pairs),
        "n_covered": len(covered),
        "coverage": ratio(len(covered), len(pairs)),
        "accuracy_covered": ratio(correct, len(covered)),
        "accuracy": ratio(correct, len(pairs)),
        "f1_macro_covered": macro_f1(covered),
        "f1_macro": macro_f1(pairs),
    }


# --- page helpers ------------------------------------------------------------------------------------------


def text_of(page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def press_and_wait(page, key: str, status: str):
    """Press a labeling key and wait until the server's answer (the next card) says what it did."""
    wait_for_label_keys(page)
    page.keyboard.press(key)
    expect(page.locator("#label-status")).to_contain_text(status)
    expect(page.locator("#label-card")).to_be_focused()


def shown_sample(page) -> int:
    return int(page.locator('#label-card input[name="sample"]').first.get_attribute("value"))


# --- the test ------------------------------------------------------------------------------------------------


def test_an_admin_labels_writes_an_lf_and_reads_the_dashboard_in_a_browser(worker, browser_session, datasets):
    from labeling.models import LabelingFunction, LabelModelRun
    from projects.models import Annotation, Membership, Project, Sample

    started = time.monotonic()
    csv_path = datasets / "youtube_spam_collection" / "Youtube01-Psy.csv"
    records = read_rows(csv_path)
    texts = [r["CONTENT"] for r in records]
    n = len(records)
    assert n == 350
    user = make_user("maria", PASSWORD)
    b = browser_session
    page = b.page

    # Sign in. htmx, built by scripts/build_static.sh, is served by the live server's static files.
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    b.shot("sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(b.url("/"))
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("typeof htmx.version") == "string"

    # Create the project; its creator is its admin.
    page.get_by_role("link", name="New project").first.click()
    page.get_by_label("Name").fill("YouTube comments")
    page.get_by_label("Label schema").fill("HAM\nSPAM")
    page.get_by_label("Annotator instructions").fill(
        "SPAM advertises something or asks for clicks; HAM is about the video."
    )
    b.shot("new-project")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("YouTube comments")
    project = Project.objects.get(name="YouTube comments")
    assert project.labels == LABELS
    assert Membership.objects.get(project=project, user=user).role == "admin"
    expect(page).to_have_url(b.url(f"/projects/{project.pk}/"))
    b.shot("overview-empty")

    # Upload the CSV, map CONTENT and CLASS (0 → HAM, 1 → SPAM), import in the worker.
    page.locator("main").get_by_role("link", name="Import samples").first.click()
    page.get_by_label("File", exact=True).set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="First rows")).to_be_visible()
    page.get_by_label("Text field").select_option("CONTENT")
    page.get_by_label("Label field").select_option("CLASS")
    for value, name in CLASS_NAMES.items():
        select = page.get_by_label(f"Class for the value {value}")
        expect(select).to_be_visible()  # the label map came in by htmx
        select.select_option(name)
    b.shot("import-map")
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#import-progress")).to_contain_text(f"Imported {n} samples", timeout=90_000)
    expect(page.locator("#import-progress")).to_contain_text(f"({n} hand labels)")
    b.shot("import-done")
    samples = list(Sample.objects.filter(project=project).order_by("row"))
    assert [s.text for s in samples] == texts
    assert [project.label_name(s.gold_label) for s in samples] == [CLASS_NAMES[r["CLASS"]] for r in records]
    by_pk = {s.pk: s for s in samples}

    # Label three samples with the keyboard: 1 (HAM), 2 (SPAM), s (skip); then back twice with ← and change
    # the SPAM to HAM. Each step waits for the server's confirmation on the page.
    page.get_by_role("link", name="Start labeling").click()
    expect(page.locator("#label-card")).to_be_visible()
    expect(page.get_by_test_id("label-progress")).to_contain_text(f"0 of {n} labeled")
    first = shown_sample(page)
    assert by_pk[first].row == 0  # every sample has an imported label, so the queue is in row order
    press_and_wait(page, "1", f"Saved HAM for sample {by_pk[first].external_id}")
    second = shown_sample(page)
    b.shot("label-after-first")
    press_and_wait(page, "2", f"Saved SPAM for sample {by_pk[second].external_id}")
    third = shown_sample(page)
    press_and_wait(page, "s", f"Skipped sample {by_pk[third].external_id}")
    expect(page.get_by_test_id("label-progress")).to_contain_text(f"2 of {n} labeled · 1 skipped")
    assert [by_pk[pk].row for pk in (first, second, third)] == [0, 1, 2]
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#label-card .sample-id")).to_contain_text("you labeled this as skipped")
    assert shown_sample(page) == third
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#label-card .sample-id")).to_contain_text("you labeled this SPAM")
    assert shown_sample(page) == second
    expect(page.locator('#label-card button[aria-pressed="true"]')).to_contain_text("SPAM")
    b.shot("label-back-to-second")
    press_and_wait(page, "1", f"Saved HAM for sample {by_pk[second].external_id}")
    expect(page.get_by_test_id("label-progress")).to_contain_text(f"2 of {n} labeled · 1 skipped")
    b.shot("label-changed")
    mine = dict(
        Annotation.objects.filter(project=project, annotator=user).values_list("sample__row", "label")
    )
    assert mine == {0: 0, 1: 0, 2: None}
    assert Annotation.objects.filter(project=project, source="human").count() == 3

    # Gold after my labels: the agreed label of a sample's hand labels (a skip is no label).
    gold: list[str | None] = [CLASS_NAMES[r["CLASS"]] for r in records]
    for row, label in mine.items():
        if label is not None and LABELS[label] != gold[row]:
            gold[row] = None
    assert [
        project.label_name(s.gold_label) for s in Sample.objects.filter(project=project).order_by("row")
    ] == gold

    # What the LF does, computed here with Python's re.
    hits = [bool(re.search(PATTERN, t)) for t in texts]
    n_hits = sum(hits)
    on_gold = [g for g, h in zip(gold, hits, strict=True) if h and g is not None]
    correct, incorrect = sum(1 for g in on_gold if g == LF_LABEL), sum(1 for g in on_gold if g != LF_LABEL)
    assert 0 < n_hits < n
    # Row 0 ("check out this you[tube] channel", SPAM in the file) lost its gold to my HAM: the LF's figures on
    # gold below count one sample fewer than the file alone would give.
    assert hits[0] and gold[0] is None

    # The LF studio: write the regex LF and watch its preview.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="LF studio").click()
    expect(page.locator("#lf-list")).to_contain_text("No labeling functions yet")
    page.get_by_label("Name", exact=True).fill("check out")
    page.get_by_label("Regex", exact=True).check()
    page.locator('#lf-form input[name="pattern"]').fill(PATTERN)
    page.get_by_label("Label it votes for").select_option(LF_LABEL)
    preview = page.locator("#preview")
    expect(preview).to_contain_text(f"votes on {n_hits} of {n} samples")
    expect(preview.locator(".figure").first).to_have_text(pct(n_hits / n))
    expect(preview).to_contain_text(f"accuracy on gold: {correct} correct, {incorrect} incorrect")
    expect(preview).to_contain_text(f"Samples it votes {LF_LABEL} on")
    examples = preview.locator("li.example")
    expect(examples).to_have_count(min(8, n_hits))
    marks = preview.locator("li.example mark")
    expect(marks.first).to_be_visible()
    for mark_text in marks.all_inner_texts():
        assert re.fullmatch(PATTERN, mark_text), mark_text
    b.shot("studio-preview")

    # Save with Ctrl+Enter; the run status polls while the votes and the refit are computed, then stops.
    saved_at = len(b.requests)  # before the save: a poll may come before the next line runs
    page.locator('#lf-form input[name="pattern"]').press("Control+Enter")
    lf = wait_for(
        lambda: LabelingFunction.objects.filter(project=project, name="check out").first(), what="the LF"
    )
    # The studio gives a fresh form for the next LF; the message links to the one just saved.
    expect(page).to_have_url(b.url(f"/projects/{project.pk}/lfs/"))
    expect(page.locator(".messages")).to_contain_text("Saved “check out” as version 1")
    expect(page.locator(".messages").get_by_role("link", name="Edit “check out”")).to_have_attribute(
        "href", f"/projects/{project.pk}/lfs/{lf.pk}/"
    )
    status = page.locator("#run-status")
    was_active = page.locator("#run-status.active").count() > 0
    if was_active:
        b.shot("studio-refit-running")
    expect(status).not_to_have_class(re.compile(r"\bactive\b"), timeout=90_000)
    expect(status.locator(".badge")).to_have_text("done")
    run = LabelModelRun.objects.filter(project=project).latest("pk")
    assert run.status == "done"
    assert [s["name"] for s in run.lf_stats] == ["check out"]
    expect(status).to_contain_text(f"Refit #{run.number} finished")
    expect(status).to_contain_text(f"coverage {pct(n_hits / n)} of {n} samples")
    assert status.get_attribute("hx-trigger") == "every 5s"  # idle: it only looks for work started elsewhere
    lf_row = page.locator("#lf-list tbody tr", has_text="check out")
    expect(lf_row).to_contain_text(pct(n_hits / n))
    expect(lf_row).to_contain_text(f"{correct} correct · {incorrect} incorrect")
    status_path = f"/projects/{project.pk}/runs/status/"
    if was_active:
        # The page polled while the work went on, and the end of the run refreshed the LF list by itself.
        assert b.htmx_gets(status_path, saved_at) >= 1
        assert b.htmx_gets(f"/projects/{project.pk}/lfs/", saved_at) >= 1
    polls = b.htmx_gets(status_path)
    page.wait_for_timeout(2500)
    assert b.htmx_gets(status_path) == polls, "the run status kept polling after the refit finished"
    b.shot("studio-refit-done")

    # The dashboard: the LF's figures and the run's, against the CSV.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#dashboard")).to_contain_text(f"Refit #{run.number}")
    assert text_of(page, "#fig-coverage") == pct(n_hits / n)
    expect(page.locator("#whole-title + .figures")).to_contain_text(
        f"coverage: {n_hits} of {n} samples have a vote"
    )
    assert text_of(page, "#fig-overlap") == pct(0.0)
    assert text_of(page, "#fig-conflict") == pct(0.0)
    assert text_of(page, "#fig-uninformative") == str(n - n_hits)
    assert text_of(page, "#fig-precision") == pct(correct / (correct + incorrect))

    stat = [" ".join(c.split()) for c in page.locator(f"#lf-stat-{lf.pk} td").all_inner_texts()]
    assert stat[0].startswith("check out") and stat[1:3] == [LF_LABEL, LF_LABEL]
    assert stat[3:] == [
        pct(n_hits / n),
        pct(0.0),
        pct(0.0),
        f"{correct} / {incorrect}",
        pct(correct / (correct + incorrect)),
        stat[8],  # learned accuracy: the chosen label model's own estimate, not a gold figure
    ]

    pred = [LF_LABEL if h else None for h in hits]
    split_of_row = dict(Sample.objects.filter(project=project).values_list("row", "split"))
    for split in ("dev", "test"):
        rows = [r for r in range(n) if split_of_row[r] == split]
        e = split_figures(rows, pred, gold)
        cells = [" ".join(c.split()) for c in page.locator(f"#metrics-{split} td").all_inner_texts()]
        assert cells == [
            str(e["n"]),
            str(e["n_gold"]),
            f"{pct(e['coverage'])} ({e['n_covered']})",
            pct(e["accuracy_covered"]),
            pct(e["accuracy"]),
            dec(e["f1_macro_covered"]),
            dec(e["f1_macro"]),
        ], split

    distribution = {
        row.locator("th").inner_text(): [" ".join(c.split()) for c in row.locator("td.num").all_inner_texts()]
        for row in page.locator("table.distribution tbody tr").all()
    }
    n_gold = sum(1 for g in gold if g is not None)
    for name in LABELS:
        predicted = sum(1 for p in pred if p == name)
        golden = sum(1 for g in gold if g == name)
        assert distribution[name] == [
            f"{predicted} ({pct(predicted / n_hits)})",
            f"{golden} ({pct(golden / n_gold)})",
        ], name
    b.shot("dashboard")
    expect(page.locator("#conflicts")).to_contain_text("No conflicts")

    # "Refit now": the dashboard follows the new run and refreshes itself when it ends, with the same figures.
    page.get_by_role("button", name="Refit now").click()
    expect(page.locator(".messages")).to_contain_text("Refit queued")
    asked_at = len(b.requests)
    was_active = page.locator("#run-status.active").count() > 0
    rerun = LabelModelRun.objects.filter(project=project).latest("pk")
    assert rerun.pk > run.pk
    expect(page.locator("#dashboard > p.muted").first).to_contain_text(
        f"Refit #{rerun.number}, finished", timeout=90_000
    )
    expect(page.locator("#run-status")).not_to_have_class(re.compile(r"\bactive\b"))
    if was_active:
        assert b.htmx_gets(f"/projects/{project.pk}/dashboard/", asked_at) >= 1
    assert text_of(page, "#fig-coverage") == pct(n_hits / n)
    assert text_of(page, f"#lf-stat-{lf.pk} td:nth-child(7)") == f"{correct} / {incorrect}"
    b.shot("dashboard-after-refit-now")

    assert b.problems == [], b.problems
    assert time.monotonic() - started < 110
