"""Saving an LF applies it in the real worker and ends in one refit of the latest versions."""

import numpy as np

from labeling import services
from labeling.models import LabelModelRun, LFVersion
from tests.conftest import make_samples, wait_for


def _done_runs(project):
    return LabelModelRun.objects.filter(project=project, status="done")


def test_saving_an_lf_applies_it_and_refits(worker, project, alice):
    texts = ["check out my channel", "great song", "subscribe please", "love this song", "nice", "my video"]
    make_samples(
        project, texts, splits=["train", "train", "dev", "dev", "test", "test"], gold=[1, 0, 1, 0, 0, 1]
    )
    services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "(?i)my"}
    )
    services.create_lf(
        project=project, user=alice, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    run = wait_for(
        lambda: next((r for r in _done_runs(project) if len(r.lf_versions) == 2), None),
        what="a run of both LFs",
    )
    assert run.coverage == 4 / 6
    votes = LFVersion.objects.get(lf__name="my").vote_array()
    assert votes.tolist() == [1, -1, -1, -1, -1, 1]
    probs = run.probability_array()
    assert probs.shape == (6, 2)
    assert np.allclose(probs.sum(axis=1), 1)
    assert [s["name"] for s in run.lf_stats] == ["my", "song"]
