"""A refit: build the label matrix from stored votes, fit the label model, score it, store the run."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from django.db import transaction
from django.utils import timezone

from projects.models import JobStatus, Project

from . import annotator_sources, engine, run_arrays
from .classes import relabel_results
from .engine.majority import predict_from_scores
from .engine.sources import row_has_vote
from .models import LabelModelRun, LFVersion, pack, unpack
from .services import current_versions, project_columns, queue_application, sample_count

log = logging.getLogger(__name__)

SPLITS = {"train": 0, "dev": 1, "test": 2}
TIE_POLICY = "abstain"
# Conflicting samples listed on the dashboard; the run keeps the rows, the page looks the samples up.
CONFLICT_ROWS = 500
# Equal-width bins of predicted probability for the calibration plot.
CALIBRATION_BINS = 10
# The engine's models scored beside the label model, each with its default settings.
COMPARED_MODELS = ("majority_vote", "dawid_skene", "matrix_completion")
# They are fitted on a seeded sample of this many train rows (and scored on every dev and test row): a
# comparison, not the project's labels, so it should not cost a second label-model fit at a million rows.
COMPARED_TRAIN_ROWS = 100_000
# Past this many samples they are scored after the run is shown, by a task of their own (compare_models),
# off the edit-to-insight path: the dashboard does not show them, the analysis page adds them when in.
COMPARED_INLINE_ROWS = 50_000
# Votes of finished versions (immutable) a worker keeps, so a refit after one edit reads one new column from
# the database instead of all of them.
VOTE_CACHE_BYTES = 256 * 1024 * 1024
_votes: dict[int, np.ndarray] = {}
_votes_lock = threading.Lock()


def _stage(run_id: int, text: str) -> None:
    LabelModelRun.objects.filter(pk=run_id).update(stage=text)


def _fit(k: int, seed: int, model_name: str, L: np.ndarray, split: np.ndarray, gold: np.ndarray, modes=None):
    from .engine import LabelModel

    train = split == SPLITS["train"]
    dev = (split == SPLITS["dev"]) & (gold >= 0)
    options = {} if model_name in ("", "auto") else {"model": model_name}
    model = LabelModel(cardinality=k, seed=seed, **options)
    model.fit(
        L[train] if train.any() else L,
        L_dev=L[dev] if dev.any() else None,
        Y_dev=gold[dev] if dev.any() else None,
        abstain_modes=modes,
    )
    return model


def calibration(proba: np.ndarray, gold: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Predicted probability against observed frequency on gold rows, every class pooled.

    Each (gold row, class c) pair is one point: the model said P(c) = p, and the row is of class c or not.
    A bin holds the points with p in [low, high) (the last bin includes 1.0); "predicted" is their mean p,
    "observed" the share that are of class c. A calibrated model has observed ≈ predicted in every bin.
    """
    has = gold >= 0
    p = np.asarray(proba[has], dtype=np.float64)
    if p.size == 0:
        return []
    hit = (gold[has][:, None] == np.arange(p.shape[1])[None, :]).ravel()
    p = p.ravel()
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins)
    total_p = np.bincount(index, weights=p, minlength=bins)
    total_hit = np.bincount(index, weights=hit, minlength=bins)
    return [
        {
            "low": b / bins,
            "high": (b + 1) / bins,
            "n": int(count[b]),
            "predicted": float(total_p[b] / count[b]) if count[b] else None,
            "observed": float(total_hit[b] / count[b]) if count[b] else None,
        }
        for b in range(bins)
    ]


def _headline(s) -> dict:
    return {
        "coverage": s.coverage,
        "accuracy": s.accuracy,
        "accuracy_covered": s.accuracy_covered,
        "f1_macro": s.f1_macro,
        "f1_macro_covered": s.f1_macro_covered,
    }


def _compared(k: int, seed: int, L: np.ndarray, split: np.ndarray):
    """Each other model of the engine, fitted on (a seeded sample of) train with its defaults: its
    predictions on dev and test."""
    from .engine import LabelModel

    train = np.flatnonzero(split == SPLITS["train"])
    if train.size == 0:
        train = np.arange(len(split))
    if train.size > COMPARED_TRAIN_ROWS:
        train = np.sort(np.random.default_rng(seed).choice(train, COMPARED_TRAIN_ROWS, replace=False))
    fit_on = L[train]
    scored = np.isin(split, (SPLITS["dev"], SPLITS["test"]))
    out = {}
    for name in COMPARED_MODELS:
        model = LabelModel(cardinality=k, seed=seed, model=name)
        model.fit(fit_on)
        if model.fallback and name != "majority_vote":
            continue  # too few LFs for a learned model: it would be majority vote again
        pred = np.full(len(split), -1, dtype=np.int64)
        pred[scored] = model.predict(L[scored], tie_policy=TIE_POLICY)
        out[name] = pred
    return out


def _split_metrics(
    pred: np.ndarray,
    split: np.ndarray,
    gold: np.ndarray,
    labels: list[str],
    proba: np.ndarray | None = None,
    compared: dict[str, np.ndarray] | None = None,
) -> dict:
    out = {}
    for name in ("dev", "test"):
        mask = split == SPLITS[name]
        s = engine.score_split(pred[mask], gold[mask], len(labels))
        out[name] = {
            "n": int(mask.sum()),
            "n_gold": s.n_gold,
            "n_covered": s.n_covered,
            "coverage": s.coverage,
            "accuracy": s.accuracy,
            "accuracy_covered": s.accuracy_covered,
            "f1_macro": s.f1_macro,
            "f1_macro_covered": s.f1_macro_covered,
            "per_class": {
                labels[c]: {
                    "precision": cs.precision,
                    "recall": cs.recall,
                    "f1": cs.f1,
                    "support": cs.support,
                }
                for c, cs in enumerate(s.per_class)
            },
            "confusion_matrix": [list(row) for row in s.confusion],
            "abstained": list(s.abstained),
        }
        if proba is not None:
            out[name]["calibration"] = calibration(proba[mask], gold[mask])
        if compared is not None:
            out[name]["models"] = _model_scores(compared, mask, gold, labels)
    return out


def _model_scores(compared: dict[str, np.ndarray], mask: np.ndarray, gold: np.ndarray, labels) -> dict:
    return {
        model: _headline(engine.score_split(p[mask], gold[mask], len(labels)))
        for model, p in compared.items()
    }


def compare_models(run_id: int) -> None:
    """Score the engine's other models beside a finished run's label model (for runs past
    COMPARED_INLINE_ROWS), from the arrays the run stored: the same label matrix, splits and gold."""
    run = LabelModelRun.objects.select_related("project").filter(pk=run_id, status=JobStatus.DONE).first()
    if run is None:
        return
    began = time.perf_counter()
    arrays = run_arrays.load(run)
    split = np.asarray(arrays.split)
    gold = np.asarray(arrays.gold, dtype=np.int64)
    L = np.asarray(arrays.votes, dtype=np.int64).T
    labels = run.project.labels
    compared = _compared(len(labels), run.project.seed, L, split)
    with transaction.atomic():
        stored = LabelModelRun.objects.select_for_update().filter(pk=run_id).first()
        if stored is None:
            # The project was deleted meanwhile (its files with it): take back the arrays load() rebuilt.
            run_arrays.remove(run)
            return
        run = stored
        metrics = dict(run.metrics)
        for name in ("dev", "test"):
            if name in metrics:
                metrics[name] = dict(
                    metrics[name], models=_model_scores(compared, split == SPLITS[name], gold, labels)
                )
        summary = dict(run.summary)
        summary["seconds"] = dict(
            summary.get("seconds") or {}, **{"compared models": round(time.perf_counter() - began, 3)}
        )
        summary["comparison"] = "done"
        LabelModelRun.objects.filter(pk=run_id).update(metrics=metrics, summary=summary)


def refit(run_id: int) -> None:
    """Carry out a queued run once every active LF's votes are in (the worker's job; idempotent)."""
    run = LabelModelRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None or run.status != JobStatus.QUEUED:
        return
    project = run.project
    # Without the vote arrays: label_matrix reads only those this worker does not hold yet.
    versions = list(current_versions(project).defer("votes"))
    if any(v.status in (JobStatus.QUEUED, JobStatus.RUNNING) for v in versions):
        return  # the last application to finish asks for this run again
    n = sample_count(project)
    short = [v for v in versions if v.status == JobStatus.DONE and v.n_rows != n]
    if short:
        # Votes from before the latest import: re-apply those versions; their completion asks again.
        for v in short:
            if LFVersion.objects.filter(pk=v.pk, status=JobStatus.DONE).update(status=JobStatus.QUEUED):
                queue_application(v)
        return
    claimed = LabelModelRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING, started_at=timezone.now(), stage="building the label matrix"
    )
    if claimed != 1:
        return
    try:
        _compute(run, versions)
    except VotesNotReady as exc:
        log.info("refit %s waits: %s", run_id, exc)
        LabelModelRun.objects.filter(pk=run_id).update(status=JobStatus.QUEUED, stage="waiting for votes")
        from .tasks import refit as refit_task

        # The application that is running asks for the run again when it ends; this is in case it ended
        # between the two reads.
        transaction.on_commit(lambda: refit_task.apply_async((run_id,), countdown=2))
    except Exception as exc:
        log.exception("refit %s failed", run_id)
        LabelModelRun.objects.filter(pk=run_id).update(
            status=JobStatus.FAILED,
            message=f"the refit failed: {exc}"[:2000],
            finished_at=timezone.now(),
            stage="",
        )


class VotesNotReady(Exception):
    """A version's votes changed between the refit's check and its read of them."""


def label_matrix(versions, n: int) -> np.ndarray:
    """The label matrix of a refit: n rows x one column per version, in the order given, -1 abstain (int64).

    Column-major (one source's votes contiguous): the pair counts and the stored arrays read it by column.
    Each version's votes are immutable once applied, so a worker keeps them (VOTE_CACHE_BYTES) and reads
    from the database only the columns it has not seen: after an edit, the new version's.
    """
    if not n or not versions:
        return np.zeros((n, len(versions)), dtype=np.int64)
    with _votes_lock:
        columns = {v.pk: _votes[v.pk] for v in versions if v.pk in _votes and len(_votes[v.pk]) == n}
    missing = [v.pk for v in versions if v.pk not in columns]
    if missing:
        for pk, data in LFVersion.objects.filter(pk__in=missing).values_list("pk", "votes"):
            votes = unpack(data)
            if votes is None or len(votes) != n:
                # Read as done with n rows a moment ago, this version is being applied again (an import,
                # an edit): not an error of the refit, which runs again when the votes are in.
                raise VotesNotReady(f"the votes of LF version {pk} are being applied again")
            columns[pk] = votes
        with _votes_lock:
            for pk in missing:
                _votes.pop(pk, None)
                _votes[pk] = columns[pk]
            while len(_votes) > 1 and sum(a.nbytes for a in _votes.values()) > VOTE_CACHE_BYTES:
                del _votes[next(iter(_votes))]  # the oldest first
    L = np.empty((len(versions), n), dtype=np.int64)
    for j, v in enumerate(versions):
        L[j] = columns[v.pk]
    return L.T


class _Clock:
    """Seconds spent in each stage of a refit, logged and kept in the run's summary."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now


# Hand-labeled samples an LF must vote on before "wrong more often than right" is said of it.
WORSE_THAN_CHANCE_VOTES = 20


def _lf_warnings(s, labels) -> list[str]:
    """What the dashboard says next to an LF whose votes cannot help: one class on every sample, or wrong
    more often than right on the hand-labeled samples it votes on."""
    out = []
    if s.coverage >= 1.0 and len(s.polarity) == 1:
        out.append(
            f"votes {labels[s.polarity[0]]} on every sample: that says nothing about any one sample, "
            "and the label model learns nothing from it"
        )
    judged = (s.correct or 0) + (s.incorrect or 0)
    if judged >= WORSE_THAN_CHANCE_VOTES and (s.correct or 0) < (s.incorrect or 0):
        out.append(
            f"wrong more often than right on the hand-labeled samples it votes on ({s.incorrect} of "
            f"{judged}): check the class it votes"
        )
    return out


def _compute(run: LabelModelRun, versions) -> None:
    clock = _Clock()
    project = run.project
    labels = project.labels
    k = len(labels)
    split, gold = project_columns(project)
    n = len(split)
    usable = [v for v in versions if v.status == JobStatus.DONE and v.n_rows == n]
    skipped = [v for v in versions if v not in usable]
    if not usable and not project.annotators_as_sources:
        reason = "no active labeling function has votes" + (
            f" ({', '.join(f'{v.lf.name}: {v.message or v.status}' for v in skipped)})" if skipped else ""
        )
        LabelModelRun.objects.filter(pk=run.pk).update(
            status=JobStatus.FAILED, message=reason, finished_at=timezone.now(), stage=""
        )
        return
    clock.lap("gold and splits")
    L = label_matrix(usable, n)
    # Annotators as sources (the project's switch): their columns after the LFs', for the label model only.
    L_fit, modes, annotators = annotator_sources.for_refit(project, L)
    clock.lap("label matrix")
    _stage(
        run.pk, f"fitting the label model on {int((split == 0).sum()):,} train samples × {len(usable)} LFs"
    )
    model = _fit(k, project.seed, project.label_model, L_fit, split, gold, modes)
    clock.lap("label model fit")
    full_proba = model.predict_proba(L_fit)
    # As model.predict does, from the probabilities already computed: a row without votes is uninformative.
    scores = np.where(row_has_vote(L_fit)[:, None], full_proba, 0.0)
    pred = predict_from_scores(scores, TIE_POLICY, model.prior, model.seed)
    proba = full_proba.astype(np.float32)
    del full_proba, scores
    clock.lap("label model predict")
    _stage(run.pk, "scoring against gold labels")
    # The statistics, pair counts and stored arrays read the votes in the dtype the run arrays keep (int8 for
    # up to 127 classes): an eighth of the int64 matrix the label model takes, so every pass is that cheaper.
    V = L.astype(run_arrays.vote_dtype(k))
    stats = engine.lf_stats(V, gold)
    whole = engine.matrix_stats(V, gold)
    learned = getattr(model, "learned_accuracies", None)
    names = [v.lf.name for v in usable]
    # Sources the label model counted once (an exact copy) or whose agreement it did not read as accuracy
    # (a pair voting together far beyond chance): the dashboard says so next to the learned accuracy.
    copies = model.duplicate_of  # per source of L_fit: the LFs first, then any annotators
    together: dict[int, list[str]] = {}
    for i, j in model.dependent_pairs():
        if i < len(names) and j < len(names):
            together.setdefault(i, []).append(names[j])
            together.setdefault(j, []).append(names[i])
    lf_stats = []
    for j, (v, s) in enumerate(zip(usable, stats, strict=True)):
        lf_stats.append(
            {
                "lf": v.lf_id,
                "version": v.pk,
                "version_number": v.number,
                "name": v.lf.name,
                "kind": v.kind,
                "label": project.label_name(v.label),
                "coverage": s.coverage,
                "overlaps": s.overlaps,
                "conflicts": s.conflicts,
                "polarity": [labels[p] for p in s.polarity],
                "correct": s.correct,
                "incorrect": s.incorrect,
                "empirical_accuracy": s.empirical_accuracy,
                # NaN for an LF the model learned nothing about (it never votes on train): no figure.
                "learned_accuracy": None
                if learned is None or not np.isfinite(learned[j])
                else float(learned[j]),
                # A copy is of an earlier column, so of an LF too.
                "copy_of": None if copies[j] is None else names[copies[j]],
                "votes_with": together.get(j, []),
                "warnings": _lf_warnings(s, labels),
            }
        )
    _, _, conflicted = engine.analysis.row_masks(V)
    predicted = np.bincount(pred[pred >= 0], minlength=k) if n else np.zeros(k, dtype=int)
    summary = {
        "n": n,
        "coverage": whole.coverage,
        "overlap": whole.overlap,
        "conflict": whole.conflict,
        "precision": whole.precision,
        "covered": whole.covered,
        "conflicted": whole.conflicted,
        "uninformative": int((pred < 0).sum()),
        "tie_policy": TIE_POLICY,
        "predicted_distribution": {labels[c]: int(predicted[c]) for c in range(k)},
        "gold_distribution": {labels[c]: int((gold == c).sum()) for c in range(k)},
        "annotator_sources": annotator_sources.stats(
            annotators, gold, None if learned is None else learned[len(usable) :]
        ),
        "skipped_lfs": [{"name": v.lf.name, "status": v.status, "message": v.message} for v in skipped],
    }
    info = model.describe() if hasattr(model, "describe") else {"name": type(model).__name__}
    clock.lap("LF and matrix statistics")
    _stage(run.pk, "comparing with the engine's other models; counting LF pairs")
    compared = _compared(k, project.seed, L_fit, split) if n <= COMPARED_INLINE_ROWS else None
    clock.lap("compared models")
    both, disagree = engine.pair_counts(V)
    shares = (lambda a: (a / n).tolist()) if n else (lambda a: a.astype(float).tolist())
    conflict_rows = np.flatnonzero(conflicted)[:CONFLICT_ROWS]
    # Before the run shows as done, so a drill-down never finds it without its arrays.
    _stage(run.pk, "storing the per-sample arrays")
    run.lf_stats = lf_stats
    metrics = _split_metrics(pred, split, gold, labels, proba, compared)
    clock.lap("pair counts and metrics")
    run_arrays.write(run, votes=V.T, gold=gold, split=split, pred=pred, proba=proba)
    clock.lap("run arrays")
    summary["seconds"] = clock.seconds
    if compared is None:
        # compare_models fills them in; recover_jobs queues it again if a worker died first.
        summary["comparison"] = "pending"
    with transaction.atomic():
        # A class renamed while this run computed (projects.classes holds the same lock): the results name
        # classes as the project does now. A rename keeps indexes, so old and new names pair by position.
        now = (
            Project.objects.select_for_update().values_list("labels", flat=True).filter(pk=project.pk).first()
        )
        if now is None:
            # The project was deleted while this run computed: its files are gone, so take back the arrays
            # this run just wrote rather than leave them behind.
            run_arrays.remove(run)
            log.info("refit %s: project %s was deleted meanwhile", run.pk, project.pk)
            return
        renamed = {a: b for a, b in zip(labels, now, strict=False) if a != b}
        if renamed:
            relabel_results(summary, metrics, lf_stats, renamed)
        LabelModelRun.objects.filter(pk=run.pk).update(
            status=JobStatus.DONE,
            stage="",
            finished_at=timezone.now(),
            lf_versions=[v.pk for v in usable],
            n_samples=n,
            model=info,
            coverage=whole.coverage,
            summary=summary,
            metrics=metrics,
            conflict_matrix=shares(disagree),
            overlap_matrix=shares(both),
            lf_stats=lf_stats,
            conflict_rows=[int(r) for r in conflict_rows],
            conflict_detail={"votes": V[conflict_rows].tolist(), "predicted": pred[conflict_rows].tolist()},
            probabilities=pack(proba, compress=True),
            predictions=pack(pred.astype(np.int16), compress=True),
        )
    clock.lap("database")
    if compared is None:
        from .tasks import compare_models as compare_task

        transaction.on_commit(lambda: compare_task.delay(run.pk))
    log.info("refit %s of project %s (%d x %d): %s", run.pk, project.pk, n, len(usable), clock.seconds)
    keep = LabelModelRun.objects.filter(project=project, status=JobStatus.DONE).values_list("pk", flat=True)
    run_arrays.prune(project.pk, list(keep[: run_arrays.KEEP_RUNS]))
