"""The studio's saves, edits, toggles and deletes go through the real worker and end in the runs they should."""

import re

import pytest
from django.urls import reverse

from labeling.models import LabelingFunction, LabelModelRun, LFVersion
from labeling.templatetags.labeling_format import pct
from tests.conftest import make_samples, wait_for

pytestmark = pytest.mark.worker

TEXTS = [
    "check out my channel",
    "great song",
    "subscribe please",
    "love this song",
    "nice",
    "my video, check it out",
]
SPLITS = ["train", "train", "dev", "dev", "test", "test"]
GOLD = [1, 0, 1, 0, 0, 1]


def _save(client, project, name, lf=None, **fields):
    data = {"name": name, "mode": "any", "whole_word": "1", **fields}
    url = reverse("lf_edit", args=[project.pk, lf.pk]) if lf else reverse("lf_studio", args=[project.pk])
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return LabelingFunction.objects.live().get(project=project, name=name)


def _run_with(project, version_ids):
    """The newest done run whose inputs are exactly these versions."""

    def find():
        run = LabelModelRun.objects.filter(project=project, status__in=["done", "failed"]).first()
        if run is not None and run.status == "done" and sorted(run.lf_versions) == sorted(version_ids):
            return run
        return None

    return wait_for(find, timeout=90, what=f"a run of versions {version_ids}")


def test_saving_in_the_studio_applies_the_lf_and_a_run_arrives(worker, client, project, bob):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    client.force_login(bob)
    lf = _save(client, project, "my", kind="regex", pattern="(?i)my", label="SPAM")
    page = client.get(reverse("lf_edit", args=[project.pk, lf.pk])).content.decode()
    assert "Saved “my” as version 1" in page
    assert 'hx-trigger="every 1s"' in page  # the run status polls while the version is applied
    run = _run_with(project, [lf.current_id])
    version = LFVersion.objects.get(pk=lf.current_id)
    assert version.vote_array().tolist() == [1, -1, -1, -1, -1, 1]
    page = client.get(reverse("lf_edit", args=[project.pk, lf.pk])).content.decode()
    assert pct(version.coverage) in page
    assert pct(run.lf_stats[0]["empirical_accuracy"]) in page
    assert "every 1s" not in page
    status = client.get(reverse("run_status", args=[project.pk]) + "?was=active", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' not in status.content.decode()
    assert f'?seen={run.pk}" hx-trigger="every 5s"' in status.content.decode()
    assert "chorus:run-finished" in status["HX-Trigger"]
    # An idle page that showed this run: nothing new, no refresh.
    idle = client.get(reverse("run_status", args=[project.pk]) + f"?seen={run.pk}", HTTP_HX_REQUEST="true")
    assert "HX-Trigger" not in idle
    # A page that showed an earlier run (the refit was started elsewhere): it refreshes.
    stale = client.get(
        reverse("run_status", args=[project.pk]) + f"?seen={run.pk - 1}", HTTP_HX_REQUEST="true"
    )
    assert "chorus:run-finished" in stale["HX-Trigger"]


def test_edit_makes_version_2_and_deactivating_or_deleting_leaves_the_lf_out_of_the_next_run(
    worker, client, project, bob
):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    client.force_login(bob)
    my = _save(client, project, "my", kind="regex", pattern="(?i)my", label="SPAM")
    song = _save(client, project, "song", kind="keyword", keywords="song", label="HAM")
    check = _save(client, project, "check", kind="keyword", keywords="check", label="HAM")
    _run_with(project, [my.current_id, song.current_id, check.current_id])

    song = _save(client, project, "song", lf=song, kind="keyword", keywords="song, nice", label="HAM")
    assert song.current.number == 2
    run = _run_with(project, [my.current_id, song.current_id, check.current_id])
    assert next(s for s in run.lf_stats if s["name"] == "song")["version_number"] == 2
    assert LFVersion.objects.get(pk=song.current_id).vote_array().tolist() == [-1, 0, -1, 0, 0, -1]

    response = client.post(
        reverse("lf_active", args=[project.pk, my.pk]), {"active": "0"}, HTTP_HX_REQUEST="true"
    )
    assert re.search(r'aria-checked="false" aria-label="my active"', response.content.decode())
    run = _run_with(project, [song.current_id, check.current_id])
    assert [s["name"] for s in run.lf_stats] == ["song", "check"]

    client.post(reverse("lf_delete", args=[project.pk, check.pk]))
    run = _run_with(project, [song.current_id])
    assert [s["name"] for s in run.lf_stats] == ["song"]
    dashboard = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert f"Refit #{run.number}" in dashboard
    assert f'id="lf-stat-{check.pk}"' not in dashboard and f'id="lf-stat-{my.pk}"' not in dashboard
