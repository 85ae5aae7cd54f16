"""The export link downloads the latest done run's labels; it is for admins and developers only."""

import csv
import io
import json

from django.urls import reverse

from labeling import services
from labeling.models import ExportJob
from tests.conftest import make_samples
from tests.labeling.helpers import apply_and_refit


def _run(project, user):
    make_samples(
        project, ["my song", "great song", "nothing"], splits=["train", "dev", "test"], gold=[0, 0, 1]
    )
    services.create_lf(
        project=project, user=user, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    return apply_and_refit(project)


def test_developer_downloads_csv_and_jsonl_of_the_latest_run(client, project, bob, alice):
    run = _run(project, alice)
    client.force_login(bob)
    response = client.get(reverse("export", args=[project.pk]), {"format": "csv"})
    assert response.status_code == 200
    assert response["X-Chorus-Run"] == str(run.pk)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [r["text"] for r in rows] == ["my song", "great song", "nothing"]
    assert [r["predicted_label"] for r in rows][:2] == ["HAM", "HAM"]
    response = client.get(reverse("export", args=[project.pk]), {"format": "jsonl"})
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines() if line]
    assert len(lines) == 3
    dashboard = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert reverse("export", args=[project.pk]) + "?format=jsonl" in dashboard


def test_export_refuses_viewers_403_and_outsiders_404(client, project, dana, eve, alice):
    _run(project, alice)
    client.force_login(dana)
    assert client.get(reverse("export", args=[project.pk]), {"format": "csv"}).status_code == 403
    dashboard = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert "?format=csv" not in dashboard and reverse("exports", args=[project.pk]) not in dashboard
    # The exports page, its htmx fragment and a build are refused alike, and nothing is built.
    assert client.get(reverse("exports", args=[project.pk])).status_code == 403
    assert client.get(reverse("exports", args=[project.pk]), HTTP_HX_REQUEST="true").status_code == 403
    built = client.post(reverse("exports", args=[project.pk]), {"format": "parquet"}, HTTP_HX_REQUEST="true")
    assert built.status_code == 403 and not ExportJob.objects.filter(project=project).exists()
    # The overview still shows a viewer the counts of samples and hand labels, with no export link.
    overview = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "samples hand-labeled" in overview and reverse("export", args=[project.pk]) not in overview
    client.force_login(eve)
    assert client.get(reverse("export", args=[project.pk]), {"format": "csv"}).status_code == 404


def test_export_without_a_run_downloads_the_hand_labels_and_a_bad_format_says_why(client, project, bob):
    make_samples(project, ["a"], gold=[1])
    client.force_login(bob)
    response = client.get(reverse("export", args=[project.pk]), {"format": "csv"})
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[1].split(",")[3:6] == ["a", "train", ""]
    page = client.get(reverse("exports", args=[project.pk])).content.decode()
    assert "No label-model run has finished yet, so the predicted label, probability and confidence" in page
    assert 'value="csv"' in page and 'value="parquet"' in page
    assert 'value="label_matrix"' not in page and "only_informative" not in page
    response = client.get(reverse("export", args=[project.pk]), {"format": "xml"}, follow=True)
    assert "unknown export format" in response.content.decode()
