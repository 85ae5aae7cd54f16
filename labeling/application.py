"""Applying LF versions to every sample, in chunks that any number of workers can take.

The first application task of a project claims every queued current version of it (22 LFs saved at once
are one application, not 22) and cuts the rows into chunks of CHORUS_APPLY_CHUNK_ROWS. Each chunk is one
Celery task that reads its rows of the columnar snapshot once, computes the votes of every claimed version
on them and stores them by (version, row range). The task that stores a version's last chunk merges its
chunks by row index into the version's vote array, so the chunking never changes a vote, a redelivered
chunk (acks_late after a lost worker) finds its ranges done and writes nothing, and a stale version's votes
live on that version alone and never overwrite a newer one's. Only queued versions are applied: an edit
applies the edited LF's new version and nothing else.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyarrow as pa
from celery import group
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from projects.models import JobStatus

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


# Kinds in the order a chunk task applies them: the vectorised ones first, stored at once, so a slow code
# or service LF in the same application does not hold their votes back.
FAST_KINDS = ("field", "keyword", "regex", "predictions")


# An application of this many versions or fewer (an edit) takes chunks this many times larger: its work per
# row is small, so fewer tasks (one per worker at a million rows) beat their per-task round trips.
SMALL_APPLICATION = 2
SMALL_APPLICATION_FACTOR = 4


def _bounds(n: int, chunk_rows: int | None, versions: int) -> list[tuple[int, int]]:
    size = chunk_rows or settings.CHORUS_APPLY_CHUNK_ROWS * (
        SMALL_APPLICATION_FACTOR if versions <= SMALL_APPLICATION else 1
    )
    size = max(1, size)
    return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]


def start(version_id: int, chunk_rows: int | None = None) -> None:
    """Claim this version and the project's other queued current versions, and fan their chunks out.

    A second delivery of the same message, or the messages of versions another start already claimed, find
    nothing queued and do nothing.
    """
    from .services import sample_count

    project_id = LFVersion.objects.filter(pk=version_id).values_list("lf__project_id", flat=True).first()
    if project_id is None:
        return
    n = sample_count(project_id)
    with transaction.atomic():
        ids = list(
            LFVersion.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(
                Q(pk=version_id) | Q(lf__project_id=project_id, lf__current_id=F("id")),
                status=JobStatus.QUEUED,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            return
        bounds = _bounds(n, chunk_rows, len(ids))
        LFVersion.objects.filter(pk__in=ids).update(
            status=JobStatus.RUNNING, processed=0, message="", n_rows=n
        )
        VoteChunk.objects.filter(version_id__in=ids).delete()
        VoteChunk.objects.bulk_create(
            [VoteChunk(version_id=v, start=a, stop=b) for v in ids for a, b in bounds]
        )
    log.info("applying %d LF version(s) of project %s over %d rows in %d chunk(s)", len(ids), project_id, n,
             len(bounds))  # fmt: skip
    if len(bounds) == 1:
        apply_chunk(ids, 0)
        return
    from .tasks import apply_lf_chunks

    group(apply_lf_chunks.s(ids, a) for a, _ in bounds).delay()


def apply_chunk(version_ids: int | list[int], chunk_start: int) -> None:
    """Apply the versions to the rows of their chunk at chunk_start, reading those rows once for all."""
    ids = [version_ids] if isinstance(version_ids, int) else list(version_ids)
    began = time.perf_counter()
    chunks = list(
        VoteChunk.objects.filter(
            version_id__in=ids, start=chunk_start, done=False, version__status=JobStatus.RUNNING
        )
        .select_related("version__lf__project")
        .order_by("version_id")
    )
    # Versions claimed together share their chunks' bounds and n_rows; a restarted one may not: by range.
    by_range: dict[tuple[int, int, int], list[VoteChunk]] = {}
    for chunk in chunks:
        by_range.setdefault((chunk.stop, chunk.version.n_rows, chunk.version.lf.project_id), []).append(chunk)
    for (stop, n_rows, _), todo in by_range.items():
        project = todo[0].version.lf.project
        try:
            table = snapshot.rows(project, chunk_start, stop, n_rows)
        except Exception as exc:
            log.warning("reading rows %s-%s of project %s failed: %s", chunk_start, stop, project.pk, exc)
            for chunk in todo:
                fail(chunk.version_id, str(exc))
            continue
        fast = [c for c in todo if c.version.kind in FAST_KINDS]
        slow = [c for c in todo if c.version.kind not in FAST_KINDS]
        for batch in [fast, *([c] for c in slow)]:
            done = []
            for chunk in batch:
                try:
                    done.append((chunk, votes_for(chunk.version, table, chunk_start)))
                except Exception as exc:
                    log.warning("applying %s rows %s-%s failed: %s", chunk.version, chunk_start, stop, exc)
                    fail(chunk.version_id, str(exc))
            _store(done)
    log.info("chunk %s of %d version(s) in %.2f s", chunk_start, len(chunks), time.perf_counter() - began)
    finish(ids)


def _store(done: list[tuple[VoteChunk, np.ndarray]]) -> None:
    """Store computed chunks in one transaction; a chunk already stored (a redelivery) is left as it is."""
    if not done:
        return
    with transaction.atomic():
        for chunk, votes in done:
            updated = VoteChunk.objects.filter(pk=chunk.pk, done=False).update(
                votes=pack(votes, compress=True), done=True
            )
            if updated:
                LFVersion.objects.filter(pk=chunk.version_id).update(
                    processed=F("processed") + (chunk.stop - chunk.start)
                )


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


def finish(version_ids: int | list[int]) -> None:
    """Merge the versions whose chunks are all in (whichever chunk task gets there first does it, once),
    then ask for one refit for all of them."""
    from .services import request_refit, sample_count

    ids = [version_ids] if isinstance(version_ids, int) else list(version_ids)
    complete = list(
        VoteChunk.objects.filter(version_id__in=ids, version__status=JobStatus.RUNNING)
        .values("version_id")
        .annotate(total=Count("id"), done=Count("id", filter=Q(done=True)))
        .filter(total=F("done"))
        .values_list("version_id", flat=True)
    )
    if not complete:
        return
    project = LFVersion.objects.select_related("lf__project").get(pk=complete[0]).lf.project
    n = sample_count(project)
    merged = [m for m in (_merge(v, n) for v in complete) if m is not None]
    if merged and not any(grown for _, grown in merged):
        request_refit(project=project)


def _merge(version_id: int, n_now: int) -> tuple[int, bool] | None:
    """Merge one version's chunks; (id, grown) if this call did it, grown when samples arrived meanwhile."""
    from .services import queue_application

    with transaction.atomic():
        version = LFVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None or version.status != JobStatus.RUNNING:
            return None
        chunks = list(VoteChunk.objects.filter(version_id=version_id).order_by("start"))
        if not chunks or not all(c.done for c in chunks):
            return None
        parts = [unpack(c.votes) for c in chunks]
        votes = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)
        n = version.n_rows
        grown = n_now > n
        LFVersion.objects.filter(pk=version_id).update(
            # Samples arrived while this ran: apply again over all rows (the snapshot has them by now).
            status=JobStatus.QUEUED if grown else JobStatus.DONE,
            votes=pack(votes, compress=True),
            processed=n,
            coverage=float((votes != -1).mean()) if n else 0.0,
            applied_at=timezone.now(),
        )
        VoteChunk.objects.filter(version_id=version_id).delete()
        if grown:
            queue_application(version)
    return version_id, grown
