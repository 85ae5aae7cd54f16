"""One LF application spread over chunks and workers gives the same votes, whatever the chunking."""

import numpy as np

from labeling import application, services
from labeling.models import LFVersion, VoteChunk
from labeling.tasks import apply_lf_version
from tests.conftest import make_samples, wait_for

TEXTS = [
    f"{word} number {i}"
    for i, word in enumerate(["check out my channel", "great song", "subscribe now", "plz"] * 13)
]


def _expected(texts):
    return np.array([1 if ("my" in t or "subscribe" in t) else -1 for t in texts], dtype=np.int16)


def test_votes_are_identical_for_1_4_and_16_chunks(worker, project, alice):
    make_samples(project, TEXTS)
    lf = services.create_lf(
        project=project,
        user=alice,
        name="spammy",
        kind="regex",
        label="SPAM",
        config={"pattern": "my|subscribe"},
    )
    version = lf.current
    wait_for(lambda: LFVersion.objects.get(pk=version.pk).status == "done", what="the first application")
    baseline = LFVersion.objects.get(pk=version.pk).vote_array()
    assert baseline.tolist() == _expected(TEXTS).tolist()
    for chunk_rows in (len(TEXTS), len(TEXTS) // 4 + 1, len(TEXTS) // 16 + 1):
        LFVersion.objects.filter(pk=version.pk).update(status="queued", votes=None)
        apply_lf_version.delay(version.pk, chunk_rows)
        wait_for(
            lambda: LFVersion.objects.get(pk=version.pk).status == "done",
            what=f"the application in chunks of {chunk_rows}",
        )
        again = LFVersion.objects.get(pk=version.pk)
        assert again.vote_array().tolist() == baseline.tolist(), chunk_rows
        assert again.processed == len(TEXTS)
        assert not VoteChunk.objects.filter(version=again).exists()


def test_a_redelivered_chunk_changes_nothing(project, alice, django_capture_on_commit_callbacks):
    make_samples(project, TEXTS)
    with django_capture_on_commit_callbacks(execute=False):
        lf = services.create_lf(
            project=project,
            user=alice,
            name="spammy",
            kind="regex",
            label="SPAM",
            config={"pattern": "my|subscribe"},
        )
    version = lf.current
    n = len(TEXTS)
    # The state `start` leaves behind for 3 chunks, without sending them to a broker.
    LFVersion.objects.filter(pk=version.pk).update(status="running", n_rows=n)
    bounds = [(0, 20), (20, 40), (40, n)]
    VoteChunk.objects.bulk_create([VoteChunk(version=version, start=a, stop=b) for a, b in bounds])
    with django_capture_on_commit_callbacks(execute=False):
        application.apply_chunk(version.pk, 20)
        application.apply_chunk(version.pk, 20)  # delivered again after a lost worker
        application.apply_chunk(version.pk, 0)
        assert LFVersion.objects.get(pk=version.pk).status == "running"
        application.apply_chunk(version.pk, 40)
    done = LFVersion.objects.get(pk=version.pk)
    assert done.status == "done"
    assert done.processed == n
    assert done.vote_array().tolist() == _expected(TEXTS).tolist()


def test_a_failing_chunk_marks_the_version_failed_with_the_message(
    project, alice, django_capture_on_commit_callbacks
):
    make_samples(project, TEXTS[:5])
    with django_capture_on_commit_callbacks(execute=False):
        lf = services.create_lf(
            project=project, user=alice, name="spammy", kind="regex", label="SPAM", config={"pattern": "my"}
        )
    version = lf.current
    # An LF whose stored definition cannot run (as if the engine changed under it).
    LFVersion.objects.filter(pk=version.pk).update(config={"pattern": "(unclosed"})
    with django_capture_on_commit_callbacks(execute=False):
        application.start(version.pk)
    failed = LFVersion.objects.get(pk=version.pk)
    assert failed.status == "failed"
    assert "missing )" in failed.message
