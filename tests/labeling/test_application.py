"""One LF application spread over chunks and workers gives the same votes, whatever the chunking."""

import numpy as np
import pyarrow.parquet as pq

from labeling import application, services, snapshot
from labeling.models import LFVersion, VoteChunk
from labeling.tasks import apply_lf_version
from projects.models import Sample
from tests.conftest import make_samples, wait_for

TEXTS = [
    f"{word} number {i}"
    for i, word in enumerate(["check out my channel", "great song", "subscribe now", "plz"] * 13)
]


def _expected(texts):
    return np.array([1 if ("my" in t or "subscribe" in t) else -1 for t in texts], dtype=np.int16)


def _three_lfs(project, alice):
    """A regex, a keyword and a field-rule LF, saved together (one application)."""
    return [
        services.create_lf(
            project=project,
            user=alice,
            name="spammy",
            kind="regex",
            label="SPAM",
            config={"pattern": "my|subscribe"},
        ),
        services.create_lf(
            project=project,
            user=alice,
            name="song",
            kind="keyword",
            label="HAM",
            config={"keywords": ["song", "plz"]},
        ),
        services.create_lf(
            project=project,
            user=alice,
            name="short",
            kind="field",
            label="HAM",
            config={"field": "text", "op": "word_count_lt", "value": 4},
        ),
    ]


def test_votes_are_identical_for_1_4_and_16_chunks(worker, project, alice):
    make_samples(project, TEXTS)
    lfs = _three_lfs(project, alice)
    ids = [lf.current_id for lf in lfs]
    wait_for(
        lambda: LFVersion.objects.filter(pk__in=ids, status="done").count() == 3, what="the first application"
    )
    baseline = {pk: LFVersion.objects.get(pk=pk).vote_array().tolist() for pk in ids}
    assert baseline[ids[0]] == _expected(TEXTS).tolist()
    assert baseline[ids[1]] == [0 if ("song" in t or "plz" in t) else -1 for t in TEXTS]
    assert baseline[ids[2]] == [0 if len(t.split()) < 4 else -1 for t in TEXTS]
    for chunk_rows in (len(TEXTS), len(TEXTS) // 4 + 1, len(TEXTS) // 16 + 1):
        LFVersion.objects.filter(pk__in=ids).update(status="queued", votes=None)
        # One message: it claims all three queued versions, and each chunk task applies the three.
        apply_lf_version.delay(ids[0], chunk_rows)
        wait_for(
            lambda: LFVersion.objects.filter(pk__in=ids, status="done").count() == 3,
            what=f"the application in chunks of {chunk_rows}",
        )
        for pk in ids:
            again = LFVersion.objects.get(pk=pk)
            assert again.vote_array().tolist() == baseline[pk], (chunk_rows, again)
            assert again.processed == len(TEXTS)
            assert not VoteChunk.objects.filter(version=again).exists()


def test_one_start_applies_every_queued_version_and_an_edit_applies_only_the_new_one(
    project, alice, django_capture_on_commit_callbacks
):
    make_samples(project, TEXTS)
    with django_capture_on_commit_callbacks(execute=False):
        lfs = _three_lfs(project, alice)
    ids = [lf.current_id for lf in lfs]
    with django_capture_on_commit_callbacks(execute=False):
        application.start(ids[1])  # one chunk (52 rows): applied in this call, all three versions
    assert set(LFVersion.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"done"}
    applied = dict(LFVersion.objects.filter(pk__in=ids).values_list("pk", "applied_at"))
    with django_capture_on_commit_callbacks(execute=False):
        for pk in ids:  # the other versions' own messages: nothing left to claim
            application.start(pk)
    assert dict(LFVersion.objects.filter(pk__in=ids).values_list("pk", "applied_at")) == applied

    with django_capture_on_commit_callbacks(execute=False):
        services.update_lf(lf=lfs[1], user=alice, config={"keywords": ["great"]})
    new = LFVersion.objects.get(lf=lfs[1], number=2)
    with django_capture_on_commit_callbacks(execute=False):
        application.start(new.pk)
    new.refresh_from_db()
    assert new.status == "done"
    assert new.vote_array().tolist() == [0 if "great" in t else -1 for t in TEXTS]
    assert dict(LFVersion.objects.filter(pk__in=ids).values_list("pk", "applied_at")) == applied


def test_a_chunk_reads_only_its_row_groups_across_parts(project, monkeypatch):
    monkeypatch.setattr(snapshot, "ROW_GROUP", 7)
    make_samples(project, TEXTS[:30])
    snapshot.rebuild(project)
    make_samples(project, TEXTS[30:])
    snapshot.append(project, 30, len(TEXTS) - 30)
    parts = sorted(snapshot.folder(project).glob("rows-*.parquet"))
    assert len(parts) == 2 and pq.ParquetFile(parts[0]).metadata.num_row_groups == 5
    texts = list(Sample.objects.filter(project=project).order_by("row").values_list("text", flat=True))
    table = snapshot.rows(project, 12, 45, len(TEXTS))
    assert table.column("row").to_pylist() == list(range(12, 45))
    assert table.column("text").to_pylist() == texts[12:45]
    assert snapshot.column(project, "split", len(TEXTS)).tolist() == [0] * len(TEXTS)
    # Rows past n_rows (an import during an application) are not part of it.
    assert snapshot.rows(project, 40, 60, 45).num_rows == 5


def test_a_snapshot_that_does_not_hold_its_rows_is_rebuilt(project):
    make_samples(project, TEXTS)
    snapshot.rebuild(project)
    part = next(snapshot.folder(project).glob("rows-*.parquet"))
    table = pq.read_table(part)
    # A part whose rows are out of order (written by hand, say): the rows are read back from the database.
    pq.write_table(table.take(list(range(len(TEXTS)))[::-1]), part)
    assert snapshot.rows(project, 0, 10, len(TEXTS)).column("text").to_pylist() == TEXTS[:10]


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


def test_an_append_and_a_rebuild_at_once_do_not_break_each_other(transactional_db, alice, monkeypatch):
    """An import's append and a refit's rebuild in two processes used to meet: the rebuild's rmtree failed
    with "Directory not empty" on the part the append had just written. Threads stand in for processes
    here (each opens the lock file itself, so each holds its own flock)."""
    import threading

    from django.db import connection

    from tests.conftest import make_project

    project = make_project(alice)
    make_samples(project, TEXTS)
    errors = []
    # Slow the writers so their critical sections overlap unless something keeps them apart.
    real_write = snapshot._write_part

    def slow_write(*args):
        result = real_write(*args)
        threading.Event().wait(0.005)
        return result

    monkeypatch.setattr(snapshot, "_write_part", slow_write)

    def hammer(work):
        try:
            for _ in range(25):
                work()
        except Exception as exc:  # noqa: BLE001 - the test reports whatever broke
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=hammer, args=(lambda: snapshot.rebuild(project),)),
        threading.Thread(target=hammer, args=(lambda: snapshot.append(project, 30, len(TEXTS) - 30),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    texts = list(Sample.objects.filter(project=project).order_by("row").values_list("text", flat=True))
    assert snapshot.rows(project, 0, len(TEXTS), len(TEXTS)).column("text").to_pylist() == texts
