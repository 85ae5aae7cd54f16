"""Import speed (issue 7): a 1,000,000-row CSV of 60 words a row, and 1,000 rows into a big project.

    python bench/import.py               # 1,000,000 rows
    python bench/import.py --n 100000    # a smaller run

Prints:
1. the time to import n rows into an empty project, rows/s, and the time the labeling app then takes to add
   the rows to its columnar snapshot (the samples_imported signal), with the peak memory of this process.
   The timed import is importer.check + importer.write as the worker runs them: from the CSV on disk (in the
   page cache after the first run) to the samples and their imported labels committed, the ANALYZE after a
   large import included; not the upload, the job's queueing, nor the snapshot append (timed on its own);
2. the median time of importing 1,000 rows into that project (holding n samples) against into an empty one,
   and their ratio (target under 2x).
The corpus is bench/corpus.py's vocabulary of the real YouTube and SMS data, 60 words a row, seeded.
Needs PostgreSQL (as for `make test`); the database is BENCH_DB_NAME (default chorus_bench_import).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DB_NAME = os.environ.get("BENCH_DB_NAME", "chorus_bench_import")
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/8")
os.environ.setdefault("CHORUS_DATA_DIR", str(REPO / "bench" / "out" / "import-data"))
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import numpy as np  # noqa: E402

from bench import corpus  # noqa: E402

WORDS = 60
SMALL = 1000
REPEATS = 5


def write_corpus(path: Path, n: int, seed: int, start: int = 0) -> None:
    """n rows (id, text, label) of exactly WORDS words drawn by class from the real data's vocabulary."""
    vocab = corpus.vocabulary(*corpus.real_messages(corpus.shared_datasets()))
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(np.int64)
    texts = np.empty(n, dtype=object)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        words, p = vocab[cls]
        picked = words[rng.choice(len(words), size=(idx.size, WORDS), p=p)]
        for i, row in zip(idx, picked, strict=True):
            texts[i] = " ".join(row)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text", "label"])
        for i in range(n):
            writer.writerow([f"s{start + i}", texts[i], "SPAM" if labels[i] else "HAM"])
    tmp.replace(path)


def ensure_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    big = out / f"import-{args.n}-seed{args.seed}.csv"
    if not big.exists():
        began = time.perf_counter()
        write_corpus(big, args.n, args.seed)
        print(f"wrote {big.name} ({big.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - began:.1f} s")
    small = out / f"import-{SMALL}-seed{args.seed + 1}.csv"
    if not small.exists():
        write_corpus(small, SMALL, args.seed + 1, start=10 * args.n)

    ensure_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    from projects import fast_import, importer, services
    from projects.models import Annotation, Project, Sample
    from projects.signals import samples_imported

    user, _ = get_user_model().objects.get_or_create(username="bench")

    def drop(projects) -> None:
        # The ORM's cascade gathers a million ids in Python and checks each key at commit: minutes. The bench's
        # projects hold only samples and imported labels, so two statements clear them first.
        ids = list(projects.values_list("pk", flat=True))
        with connection.cursor() as cursor:
            for table in (Annotation._meta.db_table, Sample._meta.db_table):
                cursor.execute(f"DELETE FROM {table} WHERE project_id = ANY(%s)", [ids])
        projects.delete()

    drop(Project.objects.filter(created_by=user))
    options = importer.ImportOptions.from_dict(
        services.validate_import_options(
            Project(labels=["HAM", "SPAM"]), {"text_field": "text", "id_field": "id", "label_field": "label"}
        )
    )

    def fresh(name: str) -> Project:
        return services.create_project(user=user, name=name, labels=["HAM", "SPAM"])

    project = fresh(f"bench import {args.n}")
    began = time.perf_counter()
    plan = importer.check(big, big.name, options, project)
    checked = time.perf_counter() - began
    result = importer.write(project, big, big.name, options, plan)
    took = time.perf_counter() - began
    began = time.perf_counter()
    samples_imported.send(sender=Project, project=project, first_row=result.first_row, count=result.imported)
    snapshot = time.perf_counter() - began
    assert Sample.objects.filter(project=project).count() == args.n == result.imported
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def small_import(target: Project) -> float:
        began = time.perf_counter()
        importer.import_path(target, small, small.name, options)
        return time.perf_counter() - began

    into_big, into_empty = [], []
    for i in range(REPEATS):
        into_big.append(small_import(project))
        Sample.objects.filter(project=project, row__gte=args.n).delete()
        empty = fresh(f"bench empty {i}")
        into_empty.append(small_import(empty))
        drop(Project.objects.filter(pk=empty.pk))
    big_s, empty_s = statistics.median(into_big), statistics.median(into_empty)

    print(
        f"import of {args.n:,} rows ({WORDS} words each, {big.stat().st_size / 1e6:.0f} MB CSV, ids and labels)"
    )
    path = "pyarrow fast path" if plan.fast is not None else "precise Python path"
    keys = (
        "skipped for the COPY (keys proven by the import; session_replication_role permitted)"
        if fast_import.last_keys_unchecked
        else "checked per row by PostgreSQL"
    )
    print(f"  check pass       {checked:7.1f} s   ({path})")
    print(
        f"  write pass       {took - checked:7.1f} s   (COPY, one transaction, commit and ANALYZE included)"
    )
    print(f"  foreign keys     {keys}")
    print(
        f"  total            {took:7.1f} s   {args.n / took:,.0f} rows/s   (target < 60 s; Label Studio 3,678 rows/s)"
    )
    print(f"  snapshot append  {snapshot:7.1f} s   (labeling's Parquet part, after commit; not in the total)")
    print(f"  peak memory of this process {peak_mb:,.0f} MB")
    print(f"import of {SMALL:,} rows, median of {REPEATS}")
    print(f"  into a project with {args.n:,} samples  {big_s * 1000:7.1f} ms")
    print(f"  into an empty project              {empty_s * 1000:7.1f} ms")
    print(f"  ratio                              {big_s / empty_s:7.2f}x   (target < 2x)")
    drop(Project.objects.filter(pk=project.pk))


if __name__ == "__main__":
    main()
