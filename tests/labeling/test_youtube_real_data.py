"""The issue's real-data test: the five YouTube Spam Collection CSVs through the REST API and the real worker.

Every figure the dashboard shows is checked against an independent computation made here from the same CSVs
with Python's csv and re modules and Snorkel's LFAnalysis definitions (METRICS.md), not with labeling.engine.
"""

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labeling.refit import CONFLICT_ROWS
from tests.conftest import make_user, token_client, wait_for

LABELS = ["HAM", "SPAM"]
CLASS_NAMES = {"0": "HAM", "1": "SPAM"}
REGEX_LFS = [
    ("my", "(?i)my", "SPAM"),
    ("subscribe", "(?i)subscribe", "SPAM"),
    ("http", "(?i)http", "SPAM"),
    ("please", "(?i)please|plz", "SPAM"),
    ("song", "(?i)song", "HAM"),
    ("check out", "(?i)check.*out", "SPAM"),
]
KEYWORD_LF = ("love", ["love", "beautiful"], "HAM")  # whole words, any case
TIMEOUT = 45


# --- the independent side: plain Python over the CSV records ------------------------------------------------


def read_records(folder: Path) -> list[dict]:
    records = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as handle:
            for r in csv.DictReader(handle):
                records.append({**r, "gold": CLASS_NAMES[r["CLASS"]]})
    return records


def record_key(comment_id, author, date, text, gold) -> tuple:
    return (comment_id, author, date, text, gold)


def lf_votes(text: str, names: list[str]) -> dict[str, str]:
    """name → label for every LF among `names` that fires on the text (Python `re` search semantics)."""
    votes = {}
    for name, pattern, label in REGEX_LFS:
        if name in names and re.search(pattern, text):
            votes[name] = label
    name, words, label = KEYWORD_LF
    if name in names and re.search(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", text, re.IGNORECASE):
        votes[name] = label
    return votes


def snorkel_lf_analysis(votes: list[dict[str, str]], gold: list[str], names: list[str]) -> dict[str, dict]:
    n = len(votes)
    out = {}
    for name in names:
        mine = [v for v in votes if name in v]
        with_others = [v for v in mine if len(v) > 1]
        conflicting = [
            v for v in mine if any(label != v[name] for other, label in v.items() if other != name)
        ]
        correct = sum(1 for v, g in zip(votes, gold, strict=True) if name in v and v[name] == g)
        on_gold = len(mine)  # every sample has a gold label here
        out[name] = {
            "coverage": len(mine) / n,
            "overlaps": len(with_others) / n,
            "conflicts": len(conflicting) / n,
            "polarity": sorted({v[name] for v in mine}),
            "correct": correct,
            "incorrect": on_gold - correct,
            "empirical_accuracy": correct / on_gold if on_gold else None,
        }
    return out


def majority_vote(v: dict[str, str]) -> str | None:
    """The majority label of a sample's votes; no vote or a tie at the top gives None (abstain)."""
    counts = Counter(v.values()).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def split_scores(pred: list[str | None], gold: list[str]) -> dict:
    covered = [(p, g) for p, g in zip(pred, gold, strict=True) if p is not None]
    correct = sum(1 for p, g in covered if p == g)
    per_class, f1s = {}, []
    for c in LABELS:
        tp = sum(1 for p, g in covered if p == c and g == c)
        predicted = sum(1 for p, _ in covered if p == c)
        actual = sum(1 for g in gold if g == c)
        precision = tp / predicted if predicted else None
        recall = tp / actual if actual else None
        p0 = precision or 0.0
        f1 = None if recall is None else (0.0 if p0 + recall == 0 else 2 * p0 * recall / (p0 + recall))
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
        if actual and f1 is not None:
            f1s.append(f1)
    return {
        "n_gold": len(gold),
        "n_covered": len(covered),
        "coverage": len(covered) / len(gold),
        "accuracy": correct / len(gold),
        "accuracy_covered": correct / len(covered),
        "f1_macro": sum(f1s) / len(f1s),
        "per_class": per_class,
        "confusion_matrix": [
            [sum(1 for p, g in covered if g == a and p == b) for b in LABELS] for a in LABELS
        ],
    }


# --- the API side ------------------------------------------------------------------------------------------------


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.content[:500])
    return response.json()


def latest_run_of(client, project_id, names: set[str]):
    def ready():
        response = client.get(f"/api/projects/{project_id}/runs/latest/")
        if response.status_code != 200:
            return None
        run = response.json()
        return run if {s["name"] for s in run["lf_stats"]} == names else None

    return wait_for(ready, timeout=TIMEOUT, interval=0.25, what=f"a finished run of {sorted(names)}")


def assert_lf_stats_match(run, expected: dict[str, dict]):
    assert [s["name"] for s in run["lf_stats"]] == list(expected)
    for s in run["lf_stats"]:
        e = expected[s["name"]]
        for field in ("coverage", "overlaps", "conflicts"):
            assert s[field] == pytest.approx(e[field], rel=1e-12, abs=1e-15), (s["name"], field)
        assert (s["polarity"], s["correct"], s["incorrect"]) == (
            e["polarity"],
            e["correct"],
            e["incorrect"],
        ), s["name"]
        assert s["empirical_accuracy"] == pytest.approx(e["empirical_accuracy"], rel=1e-12), s["name"]
        assert s["learned_accuracy"] is None or 0.0 <= s["learned_accuracy"] <= 1.0


def import_all(client, project_id, folder: Path, n: int) -> None:
    """Upload the five files at once (the worker imports them side by side) and wait for every job."""
    jobs = []
    for path in sorted(folder.glob("*.csv")):
        upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
        form = {
            "file": upload,
            "text_field": "CONTENT",
            "label_field": "CLASS",
            "label_map": json.dumps(CLASS_NAMES),
        }
        response = client.post(f"/api/projects/{project_id}/imports/", form, format="multipart")
        assert response.status_code == 201, response.content
        jobs.append(response.json()["id"])
    for job_id in jobs:
        job = wait_for(
            lambda job_id=job_id: (j := get(client, f"/api/imports/{job_id}/"))["status"]
            in ("done", "failed")
            and j,
            timeout=TIMEOUT,
            what=f"import {job_id}",
        )
        assert job["status"] == "done", job["errors"]
        assert job["imported"] == job["labels_imported"] == job["total"]
    assert sum(get(client, f"/api/imports/{j}/")["imported"] for j in jobs) == n


def all_samples(client, project_id) -> list[dict]:
    samples, url = [], f"/api/projects/{project_id}/samples/?limit=1000"
    while url:
        page = get(client, url)
        samples += page["results"]
        url = page["next"]
    return samples


def assert_split_metrics_match(metrics: dict, expected: dict, split: str) -> None:
    assert (metrics["n_gold"], metrics["n_covered"]) == (expected["n_gold"], expected["n_covered"]), split
    for field in ("coverage", "accuracy", "accuracy_covered", "f1_macro"):
        assert metrics[field] == pytest.approx(expected[field], rel=1e-12), (split, field)
    assert metrics["confusion_matrix"] == expected["confusion_matrix"], split
    for c in LABELS:
        for field in ("precision", "recall", "f1"):
            assert metrics["per_class"][c][field] == pytest.approx(expected["per_class"][c][field], rel=1e-12)
        assert metrics["per_class"][c]["support"] == expected["per_class"][c]["support"]


def test_youtube_spam_collection_end_to_end_over_the_api(worker, datasets):
    folder = datasets / "youtube_spam_collection"
    records = read_records(folder)
    n = len(records)
    client = token_client(make_user("scientist"))

    # A project, and the five files uploaded at once: the worker imports them side by side.
    created = client.post("/api/projects/", {"name": "YouTube spam", "labels": LABELS}, format="json")
    assert created.status_code == 201
    project_id = created.json()["id"]
    import_all(client, project_id, folder, n)

    # Every CSV record is a sample (same text, fields and gold), rows dense 0..n-1; splits come from Chorus.
    samples = all_samples(client, project_id)
    assert len(samples) == n and sorted(s["row"] for s in samples) == list(range(n))
    from_api = Counter(
        record_key(
            s["fields"]["COMMENT_ID"], s["fields"]["AUTHOR"], s["fields"]["DATE"], s["text"], s["gold"]
        )
        for s in samples
    )
    from_csv = Counter(
        record_key(r["COMMENT_ID"], r["AUTHOR"], r["DATE"], r["CONTENT"], r["gold"]) for r in records
    )
    assert from_api == from_csv
    samples.sort(key=lambda s: s["row"])
    split_of_row = [s["split"] for s in samples]
    assert set(split_of_row) == {"train", "dev", "test"}

    # The six regex LFs of the issue and one keyword LF.
    for name, pattern, label in REGEX_LFS:
        body = {"name": name, "kind": "regex", "label": label, "config": {"pattern": pattern}}
        assert client.post(f"/api/projects/{project_id}/lfs/", body, format="json").status_code == 201
    name, words, label = KEYWORD_LF
    body = {
        "name": name,
        "kind": "keyword",
        "label": label,
        "config": {"keywords": words, "whole_word": True},
    }
    keyword = client.post(f"/api/projects/{project_id}/lfs/", body, format="json")
    assert keyword.status_code == 201
    all_names = [lf[0] for lf in REGEX_LFS] + [name]
    run = latest_run_of(client, project_id, set(all_names))

    # Independent figures from the CSV records; per-row votes follow each sample back to its record
    # (records with the same key are identical, so any match is the right one).
    gold = [r["gold"] for r in records]
    votes = [lf_votes(r["CONTENT"], all_names) for r in records]
    votes_by_key = {
        record_key(r["COMMENT_ID"], r["AUTHOR"], r["DATE"], r["CONTENT"], r["gold"]): v
        for r, v in zip(records, votes, strict=True)
    }
    row_votes = [
        votes_by_key[
            record_key(
                s["fields"]["COMMENT_ID"], s["fields"]["AUTHOR"], s["fields"]["DATE"], s["text"], s["gold"]
            )
        ]
        for s in samples
    ]
    row_gold = [s["gold"] for s in samples]  # the API's gold, already checked equal to the CSV's

    assert run["status"] == "done" and run["n_samples"] == n
    assert_lf_stats_match(run, snorkel_lf_analysis(votes, gold, all_names))
    lf_list = {lf["name"]: lf for lf in get(client, f"/api/projects/{project_id}/lfs/")}
    for lf_name in all_names:
        expected = sum(1 for v in votes if lf_name in v) / n
        assert lf_list[lf_name]["version"]["coverage"] == pytest.approx(expected, rel=1e-12)

    covered = sum(1 for v in votes if v)
    summary = run["summary"]
    assert run["coverage"] == pytest.approx(covered / n, rel=1e-12)
    assert summary["covered"] == covered
    assert summary["overlap"] == pytest.approx(sum(1 for v in votes if len(v) > 1) / n, rel=1e-12)
    conflicted_rows = {i for i, v in enumerate(row_votes) if len(set(v.values())) > 1}
    assert summary["conflicted"] == len(conflicted_rows)
    assert summary["conflict"] == pytest.approx(len(conflicted_rows) / n, rel=1e-12)
    assert set(run["conflict_rows"]) <= conflicted_rows
    assert len(run["conflict_rows"]) == min(len(conflicted_rows), CONFLICT_ROWS)
    votes_on_gold = sum(len(v) for v in votes)
    correct_votes = sum(1 for v, g in zip(votes, gold, strict=True) for label in v.values() if label == g)
    assert summary["precision"] == pytest.approx(correct_votes / votes_on_gold, rel=1e-12)
    assert summary["gold_distribution"] == dict(Counter(gold))

    # The label model on dev and test.
    export = client.get(f"/api/projects/{project_id}/export/?format=csv")
    assert export.status_code == 200
    exported = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode("utf-8"))))
    assert len(exported) == n and [int(r["row"]) for r in exported] == list(range(n))
    # Three comments start with "-" or "+" (e.g. "+447935454150 lovely girl"): a spreadsheet would read them
    # as formulas, so the CSV has a quote before them.
    quoted = [("'" if s["text"][:1] in ("=", "+", "-", "@") else "") + s["text"] for s in samples]
    assert sum(t.startswith("'") for t in quoted) >= 3
    assert [r["text"] for r in exported] == quoted
    for r, row_vote in zip(exported, row_votes, strict=True):
        if not row_vote:
            # No LF voted: the prior is not exported as a prediction.
            assert [r[f"probability_{c}"] for c in LABELS] == ["", ""] and r["confidence"] == ""
            continue
        probabilities = [float(r[f"probability_{c}"]) for c in LABELS]
        assert sum(probabilities) == pytest.approx(1, abs=1e-5)
        if r["predicted_label"]:
            assert probabilities[LABELS.index(r["predicted_label"])] == pytest.approx(
                max(probabilities), abs=1e-6
            )
    exported_pred = [r["predicted_label"] or None for r in exported]
    predicted = Counter(p for p in exported_pred if p is not None)
    assert summary["predicted_distribution"] == {c: predicted.get(c, 0) for c in LABELS}
    assert summary["uninformative"] == sum(1 for p in exported_pred if p is None)

    chosen = run["model"].get("chosen")
    if chosen == "majority_vote":
        # Majority vote can be recomputed outright: the predictions themselves must agree, row by row.
        independent_pred = [majority_vote(v) for v in row_votes]
        assert exported_pred == independent_pred
    for split in ("dev", "test"):
        rows = [i for i, s in enumerate(split_of_row) if s == split]
        gold_here = [row_gold[i] for i in rows]
        # Any model: the run's scores must follow from its stored predictions (for majority vote, checked
        # above to be the independent ones) and the gold labels.
        expected = split_scores([exported_pred[i] for i in rows], gold_here)
        assert_split_metrics_match(run["metrics"][split], expected, split)

    # The six regexes alone: deactivating the keyword LF refits on them, with the coverage.
    patched = client.patch(f"/api/lfs/{keyword.json()['id']}/", {"active": False}, format="json")
    assert patched.status_code == 200
    six = [lf[0] for lf in REGEX_LFS]
    six_run = latest_run_of(client, project_id, set(six))
    six_votes = [lf_votes(r["CONTENT"], six) for r in records]
    covered_six = sum(1 for v in six_votes if v)
    assert six_run["id"] != run["id"]
    assert six_run["summary"]["covered"] == covered_six
    assert six_run["coverage"] == pytest.approx(covered_six / n, rel=1e-12)
    assert_lf_stats_match(six_run, snorkel_lf_analysis(six_votes, gold, six))
    # Nothing may still be running in the worker when the test database is flushed.
    wait_for(
        lambda: not any(
            r["status"] in ("queued", "running")
            for r in get(client, f"/api/projects/{project_id}/runs/")["results"]
        ),
        timeout=TIMEOUT,
        what="the worker to be idle",
    )
