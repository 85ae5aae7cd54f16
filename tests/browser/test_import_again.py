"""Importing the same rows again without an id field, in a real browser: the mapping step asks first, and
only the explicit confirm imports them as new samples."""

from __future__ import annotations

import gzip

from playwright.sync_api import expect

from tests.conftest import make_project, make_user

PASSWORD = "pw-for-tests-1"
ROWS = "text,label\ncheck out my channel,SPAM\ngreat song,HAM\nsubscribe,SPAM\n"


def test_the_same_file_gzipped_is_asked_about_and_imported_again_only_on_confirm(
    worker, browser_session, tmp_path
):
    from projects.models import ImportJob, Sample

    alice = make_user("alice", PASSWORD)
    project = make_project(alice, name="Spam comments")
    plain, packed = tmp_path / "comments.csv", tmp_path / "comments.csv.gz"
    plain.write_text(ROWS)
    packed.write_bytes(gzip.compress(ROWS.encode()))
    b = browser_session
    page = b.page
    b.sign_in("alice", PASSWORD)

    def upload(path):
        page.goto(f"/projects/{project.pk}/import/")
        page.get_by_label("File", exact=True).set_input_files(str(path))
        page.get_by_role("button", name="Upload and preview").click()
        expect(page.get_by_role("heading", name="First rows")).to_be_visible()
        page.get_by_role("button", name="Start import").click()

    upload(plain)
    expect(page.locator("#import-progress")).to_contain_text("Imported 3 samples", timeout=60_000)
    first = ImportJob.objects.get()

    upload(packed)
    question = page.get_by_role("alertdialog")
    expect(question).to_contain_text(
        "comments.csv.gz holds the same rows as comments.csv, which was imported on "
    )
    expect(question).to_contain_text(
        f"as import #{first.pk} (3 samples); import its rows again as new samples?"
    )
    expect(page.get_by_role("button", name="Start import")).to_have_count(0)
    b.shot("asked-before-importing-again")
    assert ImportJob.objects.count() == 1 and Sample.objects.filter(project=project).count() == 3

    # Cancel leaves everything as it was.
    question.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import samples")
    assert ImportJob.objects.count() == 1

    upload(packed)
    page.get_by_role("button", name="Import again as new samples").click()
    expect(page.locator("#import-progress")).to_contain_text("Imported 3 samples", timeout=60_000)
    b.shot("imported-again")
    assert Sample.objects.filter(project=project).count() == 6
    # The only answers over 400 were the two questions (409, which the console reports too).
    assert [p for p in b.problems if "409" not in p] == [], b.problems
    assert len([p for p in b.problems if p.startswith("409 for ") and "/import/" in p]) == 2, b.problems
