"""Applying one LF version to every sample, in chunks that any number of workers can take.

The version's rows are cut into chunks of CHORUS_APPLY_CHUNK_ROWS; each chunk is a Celery task that reads
its slice of the columnar snapshot, computes the votes and stores them by row range. The task that stores the
last chunk merges them by row index into the version's vote array, so the chunking never changes a vote, a
redelivered chunk (acks_late after a lost worker) only rewrites its own range, and a stale version's votes
live on that version alone and never overwrite a newer one's.
"""

from __future__ import annotations

import logging

import numpy as np
import pyarrow as pa
from celery import group
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from projects.models import JobStatus, Sample

from . import kinds, snapshot
from .engine import field_rules, predictions, sandbox, service
from .engine import lfs as lf_engine
from .models import LFVersion, VoteChunk, pack, unpack

log = logging.getLogger(__name__)


def votes_for(version: LFVersion, table: pa.Table, first_row: int) -> np.ndarray:
    """The version's votes (int16, -1 abstain) on the rows of `table`, a slice of the snapshot from first_row."""
    kind = version.kind
    if kind in ("keyword", "regex"):
        key = (version.lf.project_id, snapshot.version_of(version.lf.project), first_row, table.num_rows)
        return lf_engine.apply(kind, version.config, version.label, table.column("text"), _words(key, table))
    if kind == "field":
        rule = field_rules.parse_field_config(version.config)
        return field_rules.apply_field_rule(rule, kinds.field_column(table, rule.field), version.label)
    if kind == "code":
        project = version.lf.project
        return sandbox.run_code_lf(
            version.config["source"],
            kinds.code_records(table),
            project.labels,
            ids=table.column("id").to_pylist(),
            timeout_s=settings.CHORUS_CODE_LF_TIMEOUT,
            memory_mb=settings.CHORUS_CODE_LF_MEMORY_MB,
            modules=kinds.code_modules(project),
        )
    if kind == "predictions":
        preds = kinds.load_predictions(version.config)
        return predictions.votes_from_predictions(table.column("id"), preds, version.config.get("min_score"))
    if kind == "service":
        return _service_votes(version, table, first_row)
    raise ValueError(f"labeling functions of kind {kind!r} cannot be applied")


_WORDS: dict[tuple, dict[bool, tuple]] = {}


def _words(key: tuple, table: pa.Table):
    """The words of these rows, split once per worker and shared by every large word list applied to them."""

    def words(case_sensitive: bool):
        cached = _WORDS.setdefault(key, {})
        if case_sensitive not in cached:
            if len(_WORDS) > 2:
                for old in [k for k in _WORDS if k != key]:
                    del _WORDS[old]
            cached[case_sensitive] = lf_engine.words_of(table.column("text"), case_sensitive)
        return cached[case_sensitive]

    return words


def _service_votes(version: LFVersion, table: pa.Table, first_row: int) -> np.ndarray:
    """Ask the service only about rows this version has no answer for yet (answers are kept by version)."""
    cfg = service.parse_service_config(version.config, settings.CHORUS_SERVICE_HOSTS)
    labels = version.lf.project.labels
    known = version.vote_array()
    n = table.num_rows
    votes = np.full(n, -1, dtype=np.int16)
    have = 0 if known is None else max(0, min(n, len(known) - first_row))
    if have:
        votes[:have] = known[first_row : first_row + have]
    if have < n:
        texts = table.column("text").slice(have).to_pylist()
        votes[have:] = service.label_texts(cfg, texts, labels)
    return votes


def start(version_id: int, chunk_rows: int | None = None) -> None:
    """Claim a queued version and fan its chunks out; a second delivery of the same message does nothing."""
    claimed = LFVersion.objects.filter(pk=version_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, processed=0, message=""
    )
    if claimed != 1:
        return
    version = LFVersion.objects.select_related("lf").get(pk=version_id)
    n = Sample.objects.filter(project_id=version.lf.project_id).count()
    size = max(1, chunk_rows or settings.CHORUS_APPLY_CHUNK_ROWS)
    bounds = [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]
    with transaction.atomic():
        VoteChunk.objects.filter(version_id=version_id).delete()
        VoteChunk.objects.bulk_create([VoteChunk(version_id=version_id, start=a, stop=b) for a, b in bounds])
        LFVersion.objects.filter(pk=version_id).update(n_rows=n)
    if len(bounds) == 1:
        apply_chunk(version_id, 0)
        return
    from .tasks import apply_lf_chunk

    group(apply_lf_chunk.s(version_id, a) for a, _ in bounds).delay()


def apply_chunk(version_id: int, chunk_start: int) -> None:
    version = LFVersion.objects.select_related("lf__project").filter(pk=version_id).first()
    if version is None or version.status != JobStatus.RUNNING:
        return
    chunk = VoteChunk.objects.filter(version_id=version_id, start=chunk_start).first()
    if chunk is None:
        return  # the application was restarted with other chunks
    if not chunk.done:
        try:
            table = snapshot.load(version.lf.project, version.n_rows).slice(
                chunk.start, chunk.stop - chunk.start
            )
            votes = votes_for(version, table, chunk.start)
        except Exception as exc:
            log.warning("applying %s rows %s-%s failed: %s", version, chunk.start, chunk.stop, exc)
            fail(version_id, str(exc))
            return
        with transaction.atomic():
            updated = VoteChunk.objects.filter(pk=chunk.pk, done=False).update(votes=pack(votes), done=True)
            if updated:
                LFVersion.objects.filter(pk=version_id).update(
                    processed=F("processed") + (chunk.stop - chunk.start)
                )
    finish(version_id)


def fail(version_id: int, message: str) -> None:
    from .services import request_refit

    with transaction.atomic():
        updated = LFVersion.objects.filter(pk=version_id, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, message=message[:4000]
        )
        VoteChunk.objects.filter(version_id=version_id).delete()
    if updated:
        version = LFVersion.objects.select_related("lf__project").get(pk=version_id)
        request_refit(project=version.lf.project)


def finish(version_id: int) -> None:
    """Merge the chunks once all are in (whichever chunk task gets here last does it, once)."""
    from .services import queue_application, request_refit

    with transaction.atomic():
        version = LFVersion.objects.select_for_update().select_related("lf__project").get(pk=version_id)
        if version.status != JobStatus.RUNNING:
            return
        chunks = list(VoteChunk.objects.filter(version_id=version_id).order_by("start"))
        if not chunks or not all(c.done for c in chunks):
            return
        parts = [unpack(c.votes) for c in chunks]
        votes = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)
        n = version.n_rows
        LFVersion.objects.filter(pk=version_id).update(
            status=JobStatus.DONE,
            votes=pack(votes),
            processed=n,
            coverage=float((votes != -1).mean()) if n else 0.0,
            applied_at=timezone.now(),
        )
        VoteChunk.objects.filter(version_id=version_id).delete()
        project = version.lf.project
        grown = Sample.objects.filter(project=project).count() > n
        if grown:
            # Samples arrived while this ran: apply again over all rows (the snapshot has them by now).
            LFVersion.objects.filter(pk=version_id).update(status=JobStatus.QUEUED)
            queue_application(version)
    if not grown:
        request_refit(project=project)
