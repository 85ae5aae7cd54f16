"""Pressing Back after an import in a real browser: the mapping step's address named a staged upload that
the import used up, so Back lands on the import page saying so, never on a bare "Not Found"."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.conftest import make_project, make_user

PASSWORD = "pw-for-tests-1"


def test_back_after_an_import_lands_on_the_import_page_with_a_notice(worker, browser_session, tmp_path):
    from projects.models import Sample

    alice = make_user("alice", PASSWORD)
    project = make_project(alice, name="Spam comments")
    csv_path = tmp_path / "comments.csv"
    csv_path.write_text("text,label\ncheck out my channel,SPAM\ngreat song,HAM\nsubscribe,SPAM\n")
    b = browser_session
    page = b.page
    b.sign_in("alice", PASSWORD)

    page.goto(f"/projects/{project.pk}/import/")
    page.get_by_label("File", exact=True).set_input_files(str(csv_path))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="First rows")).to_be_visible()
    map_url = page.url
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#import-progress")).to_contain_text("Imported 3 samples", timeout=60_000)
    b.shot("imported")

    page.go_back()
    expect(page).to_have_url(b.url(f"/projects/{project.pk}/import/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Import samples")
    expect(page.locator(".messages")).to_contain_text("comments.csv was imported already")
    expect(page.get_by_role("link", name="see its import")).to_be_visible()
    b.shot("back-after-import")
    assert not any(p.startswith("404") for p in b.problems), b.problems
    # The mapping step's old address does the same when opened again (a bookmark, a second tab).
    page.goto(map_url)
    expect(page.locator(".messages")).to_contain_text("was imported already")
    assert Sample.objects.filter(project=project).count() == 3
    assert b.problems == [], b.problems
