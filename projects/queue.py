"""The annotation queue: which sample an annotator gets next, and the short-lived claim on it.

A claim is held on the Sample row itself (claimed_by, claimed_until), taken by a compare-and-set UPDATE
inside a transaction whose candidate row was read with SELECT ... FOR UPDATE SKIP LOCKED. On PostgreSQL two
annotators asking at the same instant therefore never wait for each other and never get the same sample:
a row another transaction holds is skipped, and a row it has just claimed is re-checked by PostgreSQL
against its new version and falls out. SQLite (transaction_mode IMMEDIATE) runs the transactions one at a time.

Gold checks (samples with a known answer) are outside the overlap queue (queued is False for them): about
one in `project.check_every` of the samples an annotator is given is a check they have not labeled, at a
seeded random place in each block of that many, so neither the place nor anything in the answer tells it
apart. A check is claimed like any sample, so two annotators never hold it at once; every annotator gets it.

Samples that came with an imported label (a gold file, often imported before the rest, so its rows come
first) are not given at their rows: each has a seeded place among the ordinary rows, its own per annotator
(gold_places), so where a sample comes in the queue says nothing of whether its answer is known.

Orders other than row order need data projects does not own (the label model's probabilities, the LFs'
votes): the labeling app registers a provider per order in ORDER_PROVIDERS from its AppConfig.ready(), so
projects never imports labeling. A provider answers cheaply with a key (e.g. the run's id) and a loader of the
rows to hand out first; the loaded array is kept per process until the key changes, and each request walks
only a few windows of it. Rows the array does not list follow in row order (an index range scan).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from .models import Annotation, Membership, Project, QueueOrder, Sample

CLAIM_TTL = timedelta(minutes=10)
# Rows of a priority order looked at in one query, and at most how many windows one request walks before it
# falls back to row order (the walk resumes where it stopped on the next request: see _frontier).
WINDOW = 128
MAX_WINDOWS = 16
# A locked candidate whose compare-and-set still fails (claimed between read and lock) is retried this often.
LOCK_TRIES = 5

# name -> provider(project) -> (key, load) or None when there is nothing to order by (no run yet).
OrderProvider = Callable[[Project], "tuple[Hashable, Callable[[], np.ndarray]] | None"]
ORDER_PROVIDERS: dict[str, OrderProvider] = {}


def register_order(name: str, provider: OrderProvider) -> None:
    ORDER_PROVIDERS[name] = provider


# The label model's class for a sample (an index, or None), shown to annotators of projects that are not
# blind; labeling registers it beside the orders.
PREDICTION_PROVIDERS: list[Callable[[Project, Sample], int | None]] = []


def predicted_label(project: Project, sample: Sample) -> str | None:
    for provider in PREDICTION_PROVIDERS:
        index = provider(project, sample)
        if index is not None:
            return project.label_name(index)
    return None


class _Lru(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


_lock = threading.Lock()
_arrays = _Lru(16)  # (project, order, key) -> rows to hand out first
_frontier = _Lru(4096)  # (project, order, key, user) -> position before which nothing is left for the user


def order_for(project: Project, user) -> str:
    mine = Membership.objects.filter(project=project, user=user).values_list("queue_order", flat=True).first()
    return mine or project.queue_order


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: consecutive inputs get unrelated 64-bit outputs."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _random_rows(project: Project, user) -> tuple[Hashable, Callable[[], np.ndarray], int] | None:
    """A seeded shuffle of the project's rows, each annotator starting at their own seeded place in it.

    Each row's place comes from a fixed pseudo-random key of (seed, row), so new samples slot in without
    reshuffling the others. One array per project, not per annotator (a million rows are 4 MB), and
    annotators start far apart, so they rarely reach for the same sample.
    """
    last = Sample.objects.filter(project=project).aggregate(m=Max("row"))["m"]
    if last is None:
        return None
    n = last + 1
    seed = np.uint64(project.seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)

    def load() -> np.ndarray:
        with np.errstate(over="ignore"):
            keys = _mix(np.arange(n, dtype=np.uint64) + seed)
        return np.argsort(keys, kind="stable")

    with np.errstate(over="ignore"):
        start = int(_mix(np.array([user.pk], dtype=np.uint64) + seed + np.uint64(1 << 40))[0] % np.uint64(n))
    return ("random", n), load, start


def _priority(project: Project, user, order: str) -> tuple[tuple, np.ndarray] | None:
    start = 0
    if order == QueueOrder.RANDOM:
        found = _random_rows(project, user)
        if found is not None:
            key, load, start = found
    else:
        provider = ORDER_PROVIDERS.get(order)
        found = provider(project) if provider else None
        if found is not None:
            key, load = found
    if found is None:
        return None
    cache_key = (project.pk, order, key)
    with _lock:
        rows = _arrays.get(cache_key)
    if rows is None:
        loaded = np.asarray(load())
        rows = loaded.astype(np.int32 if len(loaded) < 2**31 else np.int64)
        with _lock:
            _arrays.put(cache_key, rows)
    if start:
        rows = np.roll(rows, -start)  # this annotator's place first (a copy: about 1 ms for 1M rows)
    return cache_key, rows


def _waiting(project: Project, user, now):
    """Samples that wait for this annotator: still queued, not labeled or skipped by them, claimed by nobody else."""
    mine = Annotation.objects.filter(sample=OuterRef("pk"), annotator=user)
    return (
        Sample.objects.filter(project=project, queued=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now) | Q(claimed_by=user))
        .exclude(Exists(mine))
    )


# What may be handed out: a sample that still waits for its overlap, or a gold check.
_GIVEN = Q(queued=True) | Q(check_label__isnull=False)


def _take(project: Project, user, candidates, now) -> Sample | None:
    """Claim the first candidate nobody else holds (compare-and-set), releasing my other claims."""
    for sample in candidates:
        taken = (
            Sample.objects.filter(_GIVEN, pk=sample.pk)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now) | Q(claimed_by=user))
            .update(claimed_by=user, claimed_until=now + CLAIM_TTL)
        )
        if taken == 1:
            Sample.objects.filter(project=project, claimed_by=user).exclude(pk=sample.pk).update(
                claimed_by=None, claimed_until=None
            )
            sample.claimed_by, sample.claimed_until = user, now + CLAIM_TTL
            return sample
    return None


def _held(project: Project, user, now) -> Sample | None:
    """The sample I hold a live claim on and have not labeled: asking again gives it again (a reload)."""
    mine = Annotation.objects.filter(sample=OuterRef("pk"), annotator=user)
    held = (
        Sample.objects.filter(_GIVEN, project=project, claimed_by=user, claimed_until__gt=now)
        .exclude(Exists(mine))
        .select_for_update(skip_locked=True)
        .first()
    )
    if held is not None:
        Sample.objects.filter(pk=held.pk).update(claimed_until=now + CLAIM_TTL)
    return held


def _from_priority(project: Project, user, now, cache_key, rows: np.ndarray) -> Sample | None:
    frontier_key = (*cache_key, user.pk)
    with _lock:
        start = _frontier.get(frontier_key, 0)
    mine = Annotation.objects.filter(sample=OuterRef("pk"), annotator=user)
    advancing = True
    for begin in range(start, min(len(rows), start + WINDOW * MAX_WINDOWS), WINDOW):
        window = rows[begin : begin + WINDOW]
        rows_here = window.tolist()
        found = {
            row: (pk, queued and not done)
            for row, pk, queued, done in Sample.objects.filter(project=project, row__in=rows_here)
            .annotate(done=Exists(mine))
            .values_list("row", "pk", "queued", "done")
        }
        # Leading rows that are no longer queued, or that I already did, are done for me for good (an undo
        # or a raised overlap brings them back through the row-order fallback).
        if advancing:
            advanced = begin
            for row in rows_here:
                if row in found and found[row][1]:
                    advancing = False
                    break
                advanced += 1
            with _lock:
                _frontier.put(frontier_key, advanced)
        ranked = [found[row][0] for row in rows_here if row in found and found[row][1]]
        if not ranked:
            continue
        for pk in ranked:
            # One row locked at a time: a row another request holds is skipped, not waited for, and nobody
            # holds rows they will not take.
            free = _waiting(project, user, now).filter(pk=pk).select_for_update(skip_locked=True).first()
            sample = _take(project, user, [free], now) if free else None
            if sample is not None:
                return sample
    return None


def _restart(cache_key, user) -> bool:
    with _lock:
        return _frontier.pop((*cache_key, user.pk), 0) > 0


def _from_rows(project: Project, user, now, samples=None) -> Sample | None:
    for _ in range(LOCK_TRIES):
        waiting = _waiting(project, user, now) if samples is None else samples
        candidate = waiting.order_by("row").select_for_update(skip_locked=True).first()
        if candidate is None:
            return None
        sample = _take(project, user, [candidate], now)
        if sample is not None:
            return sample
    return None


# --- imported gold, spread through row order ------------------------------------------------------------------

_imported = Exists(Annotation.objects.filter(sample=OuterRef("pk"), source=Annotation.Source.IMPORT))
_gold_rows = _Lru(16)  # (project, key) -> rows of the samples that came with an imported label, sorted


def _gold(project: Project) -> tuple[tuple, np.ndarray] | None:
    """The rows of samples with an imported (gold) label, and a key that changes when that set does."""
    imports = Annotation.objects.filter(
        project=project, annotator__isnull=True, source=Annotation.Source.IMPORT
    )
    found = imports.aggregate(n=Count("id"), last=Max("id"))
    if not found["n"]:
        return None
    n_rows = Sample.objects.filter(project=project).aggregate(m=Max("row"))["m"] + 1
    key = (project.pk, found["n"], found["last"], n_rows)
    with _lock:
        rows = _gold_rows.get(key)
    if rows is None:
        rows = np.sort(np.fromiter(imports.values_list("sample__row", flat=True), dtype=np.int64))
        with _lock:
            _gold_rows.put(key, rows)
    return key, rows


def gold_places(project: Project, user, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """For each gold row (sorted), the row of the ordinary sample it comes just before for this annotator: a
    seeded pick among the ordinary rows, its own per annotator and gold row, so the gold samples spread
    evenly through the queue wherever their own rows are (all at the start, as a gold file imported first)."""
    n_ordinary = max(n_rows - len(rows), 1)
    with np.errstate(over="ignore"):
        seed = np.uint64(project.seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        keys = rows.astype(np.uint64) + (np.uint64(user.pk) << np.uint64(32)) + seed + np.uint64(1 << 42)
        k = (_mix(keys) % np.uint64(n_ordinary)).astype(np.int64)
    # The k-th ordinary row is k plus the gold rows before it; rows[i] - i ordinary rows precede rows[i].
    return k + np.searchsorted(rows - np.arange(len(rows)), k, side="right")


def _from_rows_with_gold(project: Project, user, now) -> Sample | None:
    """Row order, with the samples that came with an imported label each at its seeded place (gold_places)
    rather than at its row: a gold file imported before the rest would otherwise be the first samples every
    annotator gets, and annotators would learn that the first ones are checked. A gold sample waits for its
    overlap and is claimed like any other; only when it comes changes."""
    gold = _gold(project)
    if gold is None:
        return _from_rows(project, user, now)
    key, rows = gold
    ordinary = _waiting(project, user, now).exclude(_imported)
    upto = ordinary.order_by("row").values_list("row", flat=True).first()
    places = gold_places(project, user, rows, key[-1])
    order = np.argsort(places, kind="stable")
    due = (
        rows[order[: np.searchsorted(places[order], upto, side="right")]] if upto is not None else rows[order]
    )
    cache_key = ("gold", *key)
    sample = _from_priority(project, user, now, cache_key, due) if len(due) else None
    if sample is None and upto is not None:
        sample = _from_rows(project, user, now, ordinary)
    # Last, anything still waiting in row order: a gold sample an undo put back behind where my walk stands.
    return sample or _from_rows(project, user, now)


def check_place(project: Project, user, block: int) -> int:
    """Where in block `block` (of check_every samples) this annotator's check comes: seeded, per annotator."""
    every = project.check_every
    seed = np.uint64(project.seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
    key = np.array([(user.pk << 24) + block], dtype=np.uint64) + seed + np.uint64(1 << 41)
    return int(_mix(key)[0] % np.uint64(every))


def _check_due(project: Project, user) -> bool:
    """Whether the next sample is this annotator's check: the one place in each block of check_every samples
    (counted by their labels and skips). A block whose check could not be given (none left, all claimed)
    simply has none, so checks never come in a burst."""
    if not project.check_every:
        return False
    # One probe of the partial index first: most projects have no checks, and need not count my labels.
    if not Sample.objects.filter(project=project, check_label__isnull=False).exists():
        return False
    given = Annotation.objects.filter(project=project, annotator=user).count()
    block, place = divmod(given, project.check_every)
    return place == check_place(project, user, block)


def _from_checks(project: Project, user, now) -> Sample | None:
    mine = Annotation.objects.filter(sample=OuterRef("pk"), annotator=user)
    checks = (
        Sample.objects.filter(project=project, check_label__isnull=False)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now) | Q(claimed_by=user))
        .exclude(Exists(mine))
    )
    for _ in range(LOCK_TRIES):
        candidate = checks.order_by("row").select_for_update(skip_locked=True).first()
        if candidate is None:
            return None
        sample = _take(project, user, [candidate], now)
        if sample is not None:
            return sample
    return None


def claim_next(project: Project, user, *, now=None) -> Sample | None:
    """Claim and return the annotator's next sample, or None when nothing is left for them."""
    now = now or timezone.now()
    order = order_for(project, user)
    priority = _priority(project, user, order) if order != QueueOrder.ROW else None
    with transaction.atomic():
        sample = _held(project, user, now)
        if sample is None and _check_due(project, user):
            sample = _from_checks(project, user, now)
        if sample is None and priority is not None:
            sample = _from_priority(project, user, now, *priority)
            if sample is None and _restart(priority[0], user):
                # Nothing after where this user's walk stood: look again from the top once, for samples an
                # undo put back, before row order takes over.
                sample = _from_priority(project, user, now, *priority)
        if sample is None:
            sample = _from_rows_with_gold(project, user, now)
    return sample


def claim(project: Project, user, sample: Sample, *, now=None) -> bool:
    """Claim a sample the annotator opened themselves (back, or after an undo) if nobody else holds it."""
    now = now or timezone.now()
    with transaction.atomic():
        return _take(project, user, [sample], now) is not None


def release(project: Project, user) -> int:
    return Sample.objects.filter(project=project, claimed_by=user).update(claimed_by=None, claimed_until=None)


def remaining_for(project: Project, user, cap: int = 10_000) -> int:
    """How many samples still wait for this annotator (claimed ones included), counted up to `cap`: the
    overview says "10,000+" rather than count a million rows on every visit."""
    mine = Annotation.objects.filter(sample=OuterRef("pk"), annotator=user)
    return Sample.objects.filter(project=project, queued=True).exclude(Exists(mine))[:cap].count()
