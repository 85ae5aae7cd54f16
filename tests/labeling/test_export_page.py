"""The exports page: developers build files and download them; the list polls while one is built."""

from django.urls import reverse

from labeling import export_jobs
from labeling.models import ExportJob
from projects import services as project_services
from tests.labeling.test_export_files import build_project

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_a_developer_builds_a_label_matrix_and_downloads_it(client, alice, bob, charlie):
    mine, _ = build_project(alice, charlie)
    project_services.add_member(project=mine, user=bob, role="developer")
    client.force_login(bob)
    page = client.get(reverse("exports", args=[mine.pk])).content.decode()
    assert "Build label matrix" in page and "No files built yet" in page
    # An archive is restored in the browser as well as on the server.
    assert f'on the <a href="{reverse("restore_project")}">Restore a project</a> page' in page
    # The page says what the CSV does to cells a spreadsheet would run as formulas.
    assert "a single quote in front" in page and "“-5 stars” gets the quote too" in page
    response = client.post(reverse("exports", args=[mine.pk]), {"format": "label_matrix"})
    assert response.status_code == 302
    job = ExportJob.objects.get(project=mine)
    fragment = client.get(reverse("exports", args=[mine.pk]), **HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "Queued" in fragment
    export_jobs.build(job.pk)  # the worker's part
    fragment = client.get(reverse("exports", args=[mine.pk]), **HTMX).content.decode()
    assert "every 1s" not in fragment
    link = reverse("export_download", args=[mine.pk, job.pk])
    assert link in fragment
    download = client.get(link)
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")


def test_viewers_get_403_and_outsiders_404(client, alice, charlie, dana, eve):
    mine, _ = build_project(alice, charlie)
    project_services.add_member(project=mine, user=dana, role="viewer")
    client.force_login(dana)
    assert client.get(reverse("exports", args=[mine.pk])).status_code == 403
    client.force_login(eve)
    assert client.get(reverse("exports", args=[mine.pk])).status_code == 404
    assert client.post(reverse("exports", args=[mine.pk]), {"format": "archive"}).status_code == 404
