"""Latency of the analysis pages on a big project (issue 6).

    python bench/dashboard.py                  # 1,000,000 samples x 50 LFs
    python bench/dashboard.py --n 100000       # a smaller run
    python bench/dashboard.py --reuse          # measure again on the project the last run made

Prints one table. What it does:
1. a project of n samples from the seeded corpus (bench/corpus.py), written with COPY as bench/apply.py
   does, on PostgreSQL; half of dev and test hand-labeled;
2. 50 LFs whose versions carry votes directly (no application: this bench is about reading), each voting
   one class on a few percent of the samples, right more often than not;
3. one refit, in this process (what the worker runs), timed;
4. each page fetched --repeat times through Django's test client as a signed-in developer: the LF table,
   the conflict matrix, the model metrics, the history, and drill-downs (an LF's votes, its disagreements
   with gold deep into the rows, samples no LF covers, a conflict cell); median and 95th percentile.
Needs PostgreSQL running (as for `make test`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("BENCH_DB_NAME", "chorus_bench_dashboard")
os.environ.setdefault("CHORUS_DATA_DIR", str(REPO / "bench" / "out" / "data-dashboard"))
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

import numpy as np  # noqa: E402

from bench import apply  # noqa: E402  (sets the database and settings environment)

NAME = "bench: analysis pages"
N_LFS = 50
TARGET_PAGE_MS = 300
TARGET_DRILL_MS = 500


def _copy(cursor, model, rows) -> None:
    """COPY rows (dicts by field name) into model's table; every other column gets the field's default, so
    fields other issues add to the model do not break the bench."""
    import json

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.name: f.get_default() for f in fields}
    columns = ", ".join(f'"{f.column}"' for f in fields)
    with cursor.cursor.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            values = []
            for f in fields:
                v = row.get(f.attname, row.get(f.name, defaults[f.name]))
                if f.get_internal_type() == "JSONField" and v is not None:
                    v = json.dumps(v)
                values.append(v)
            copy.write_row(values)


def make_project(n: int, texts, labels, likes):
    """n samples written with COPY (as bench/apply.py does), 80/10/10 train/dev/test, half of dev/test gold."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from labeling import snapshot
    from projects import services
    from projects.models import Annotation, Project, Sample

    user, _ = get_user_model().objects.get_or_create(username="bench")
    Project.objects.filter(name=NAME).delete()
    project = services.create_project(user=user, name=NAME, labels=["HAM", "SPAM"])
    rng = np.random.default_rng(1)
    split = rng.choice(np.array(["train", "dev", "test"]), size=n, p=[0.8, 0.1, 0.1])
    gold = np.where((split != "train") & (rng.random(n) < 0.5), labels[:n], -1)
    now = "2026-01-01 00:00:00+00"
    with connection.cursor() as cursor:
        _copy(
            cursor,
            Sample,
            (
                {
                    "project_id": project.pk,
                    "row": i,
                    "external_id": str(i),
                    "text": texts[i],
                    "fields": {"likes": int(likes[i])},
                    "split": str(split[i]),
                    "gold_label": None if gold[i] < 0 else int(gold[i]),
                    "created_at": now,
                }
                for i in range(n)
            ),
        )
        cursor.execute(
            "select id, gold_label from projects_sample where project_id = %s and gold_label is not null",
            [project.pk],
        )
        _copy(
            cursor,
            Annotation,
            (
                {
                    "project_id": project.pk,
                    "sample_id": sid,
                    "source": "import",
                    "label": g,
                    "created_at": now,
                    "updated_at": now,
                }
                for sid, g in cursor.fetchall()
            ),
        )
    snapshot.rebuild(project)
    return project, user


def make_lfs(project, user, true_labels: np.ndarray, seed: int = 0) -> None:
    """50 LFs with stored votes: LF j votes its class on ~1–12 % of rows, right with probability 0.6–0.95."""
    from labeling.models import LabelingFunction, LFVersion, pack

    rng = np.random.default_rng(seed)
    n = len(true_labels)
    for j in range(N_LFS):
        label = j % 2
        coverage = rng.uniform(0.01, 0.12)
        accuracy = rng.uniform(0.6, 0.95)
        # Fire on rows of its class with weight accuracy, on others with 1 - accuracy.
        weight = np.where(true_labels == label, accuracy, 1 - accuracy)
        fire = rng.random(n) < coverage * 2 * weight
        votes = np.where(fire, label, -1).astype(np.int16)
        lf = LabelingFunction.objects.create(project=project, name=f"lf{j:02d}", created_by=user)
        version = LFVersion.objects.create(
            lf=lf,
            number=1,
            kind="keyword",
            label=label,
            config={"keywords": [f"word{j}"], "whole_word": True, "case_sensitive": False},
            created_by=user,
            status="done",
            n_rows=n,
            processed=n,
            votes=pack(votes),
            coverage=float(fire.mean()),
        )
        LabelingFunction.objects.filter(pk=lf.pk).update(current=version)


def refit_once(project) -> float:
    from labeling import refit
    from labeling.models import LabelModelRun

    run = LabelModelRun.objects.create(project=project)
    t0 = time.perf_counter()
    refit.refit(run.pk)
    seconds = time.perf_counter() - t0
    run.refresh_from_db()
    if run.status != "done":
        raise SystemExit(f"the refit did not finish: {run.status} {run.message}")
    return seconds


def timings(client, url: str, repeat: int) -> tuple[float, float, float]:
    """(first, median, p95) in ms; the first request maps the run's arrays from disk."""
    samples = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    first, rest = samples[0], np.array(samples[1:])
    return first, float(np.median(rest)), float(np.percentile(rest, 95))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="measure the project a previous run made")
    args = parser.parse_args()
    apply.setup_django()
    from django.test import Client

    from labeling.analysis_data import done_runs
    from labeling.models import LabelModelRun
    from projects.models import Project, Sample

    rows = []
    project = Project.objects.filter(name=NAME).first() if args.reuse else None
    if project is None:
        t0 = time.perf_counter()
        texts, labels, fields = apply.load_corpus(args.n)
        project, user = make_project(args.n, texts, labels, fields["likes"])
        rows.append((f"project: {args.n:,} samples written (COPY)", f"{time.perf_counter() - t0:.1f} s", ""))
        make_lfs(project, user, np.asarray(labels))
        rows.append(
            ("refit: 50 LFs (label model, comparisons, matrices, arrays)", f"{refit_once(project):.1f} s", "")
        )
    else:
        user = project.created_by
    n = Sample.objects.filter(project=project).count()
    run = done_runs(project).first()
    if run is None:
        raise SystemExit("no finished run in the bench project; run without --reuse")
    # History needs several runs; the later ones repeat the refit of the same LFs.
    while LabelModelRun.objects.filter(project=project, status="done").count() < 3:
        refit_once(project)
    run = done_runs(project).first()
    stats = run.lf_stats
    client = Client()
    client.force_login(user)
    base = f"/projects/{project.pk}/analysis"
    deep = n // 2
    pages = [
        ("LF table", f"{base}/", TARGET_PAGE_MS),
        ("LF table, sorted by conflicts", f"{base}/?sort=conflicts&dir=desc", TARGET_PAGE_MS),
        ("conflict matrix", f"{base}/conflicts/", TARGET_PAGE_MS),
        ("overlap matrix", f"{base}/conflicts/?view=overlap", TARGET_PAGE_MS),
        ("model metrics", f"{base}/metrics/", TARGET_PAGE_MS),
        ("history (3 runs)", f"{base}/history/", TARGET_PAGE_MS),
        ("drill-down: an LF's votes", f"{base}/samples/?kind=lf_votes&lf={stats[0]['lf']}", TARGET_DRILL_MS),
        (
            f"drill-down: LF vs gold, after row {deep:,}",
            f"{base}/samples/?kind=lf_incorrect&lf={stats[1]['lf']}&after={deep}",
            TARGET_DRILL_MS,
        ),
        ("drill-down: no LF covers", f"{base}/samples/?kind=uncovered", TARGET_DRILL_MS),
        (
            "drill-down: a conflict cell",
            f"{base}/samples/?kind=pair_conflicts&lf={stats[0]['lf']}&other={stats[1]['lf']}",
            TARGET_DRILL_MS,
        ),
        (
            "drill-down: low confidence, dev",
            f"{base}/samples/?kind=low_confidence&split=dev",
            TARGET_DRILL_MS,
        ),
        ("sample page", f"{base}/samples/{deep}/", TARGET_DRILL_MS),
    ]
    for title, url, target in pages:
        first, median, p95 = timings(client, url, args.repeat)
        verdict = "ok" if p95 < target else "SLOW"
        rows.append(
            (
                f"{title} (first {first:.0f} ms)",
                f"median {median:.0f} ms, p95 {p95:.0f} ms",
                f"< {target} ms: {verdict}",
            )
        )
    print()
    print(f"Analysis pages on {n:,} samples x {len(stats)} LFs (PostgreSQL, {args.repeat} requests each)")
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"{'what':<{width}}  {'time':<{value_width}}  target")
    for what, value, target in rows:
        print(f"{what:<{width}}  {value:<{value_width}}  {target}")


if __name__ == "__main__":
    main()
