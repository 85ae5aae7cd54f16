"""The analysis views on the real YouTube Spam Collection, every number checked against plain Python.

The independent side reads the CSVs with csv, votes with re (tests.labeling.test_youtube_real_data's
helpers), and counts pairs, confusion cells, calibration bins and drill-down rows itself; the platform side
is the refit and the pages.
"""

import re
from collections import Counter

import pytest
from django.urls import reverse

from labeling import run_arrays, services
from labeling.templatetags.labeling_format import pct
from tests.conftest import make_samples, token_client
from tests.labeling.helpers import apply_and_refit
from tests.labeling.test_youtube_real_data import (
    KEYWORD_LF,
    LABELS,
    REGEX_LFS,
    lf_votes,
    majority_vote,
    read_records,
    split_scores,
)

NAMES = [name for name, _, _ in REGEX_LFS] + [KEYWORD_LF[0]]
SPLIT_OF = ["train", "train", "train", "dev", "test"]


@pytest.fixture
def youtube(datasets, project, alice):
    records = read_records(datasets / "youtube_spam_collection")
    splits = [SPLIT_OF[i % 5] for i in range(len(records))]
    make_samples(
        project,
        [r["CONTENT"] for r in records],
        splits=splits,
        gold=[LABELS.index(r["gold"]) for r in records],
    )
    for name, pattern, label in REGEX_LFS:
        services.create_lf(
            project=project, user=alice, name=name, kind="regex", label=label, config={"pattern": pattern}
        )
    name, words, label = KEYWORD_LF
    services.create_lf(
        project=project,
        user=alice,
        name=name,
        kind="keyword",
        label=label,
        config={"keywords": words, "whole_word": True, "case_sensitive": False},
    )
    run = apply_and_refit(project)
    votes = [lf_votes(r["CONTENT"], NAMES) for r in records]
    return {
        "records": records,
        "splits": splits,
        "gold": [r["gold"] for r in records],
        "votes": votes,
        "run": run,
    }


def _counts(shares, n) -> list[list[int]]:
    return [[round(x * n) for x in row] for row in shares]


def _rows(client, project, **params) -> list[int]:
    """Every row of a drill-down, following the keyset pages."""
    rows, after = [], None
    for _ in range(200):
        query = dict(params, **({"after": after} if after is not None else {}))
        html = client.get(reverse("drilldown", args=[project.pk]), query).content.decode()
        rows += [int(r) for r in re.findall(r'id="drill-row-(\d+)"', html)]
        found = re.search(r'id="drill-next" href="\?[^"]*after=(\d+)', html)
        if not found:
            return rows
        after = found.group(1)
    raise AssertionError("too many pages")


def test_lf_table_conflict_matrix_and_api_match_plain_python(client, project, dana, youtube):
    run, votes, gold = youtube["run"], youtube["votes"], youtube["gold"]
    n = len(votes)
    assert n == 1956
    ids = {s["name"]: s["lf"] for s in run.lf_stats}
    order = [s["name"] for s in run.lf_stats]
    assert order == NAMES

    client.force_login(dana)
    html = client.get(reverse("analysis", args=[project.pk])).content.decode()
    total_correct = total_on_gold = 0
    for name in NAMES:
        mine = [i for i, v in enumerate(votes) if name in v]
        correct = sum(1 for i in mine if votes[i][name] == gold[i])
        total_correct += correct
        total_on_gold += len(mine)
        row = re.search(rf'<tr id="lf-row-{ids[name]}">(.*?)</tr>', html, re.S).group(1)
        text = " ".join(re.sub(r"<[^>]+>", " ", row).split())
        assert pct(len(mine) / n) in text, name
        assert f"{pct(correct / len(mine))} of {len(mine)}" in text, name
        assert f">{correct}</a>" in row and f">{len(mine) - correct}</a>" in row, name
    # Overall precision from totals, never a mean of per-LF ratios.
    assert f"{pct(total_correct / total_on_gold)}" in re.search(
        r'id="overall-precision">(.*?)</div>', html
    ).group(1)

    conflict = [[0] * len(NAMES) for _ in NAMES]
    overlap = [[0] * len(NAMES) for _ in NAMES]
    for v in votes:
        for a, x in enumerate(NAMES):
            for b, y in enumerate(NAMES):
                if x in v and y in v:
                    overlap[a][b] += 1
                    conflict[a][b] += v[x] != v[y]
    assert _counts(run.conflict_matrix, n) == conflict
    assert _counts(run.overlap_matrix, n) == overlap
    page = client.get(reverse("analysis_conflicts", args=[project.pk])).content.decode()
    row = re.search(rf'<tr id="matrix-row-{ids["song"]}">(.*?)</tr>', page, re.S).group(1)
    a = NAMES.index("song")
    shown = re.findall(r">([\d.]+ %)</a>|<span class=\"muted\">—</span>", row)
    assert [s for s in shown if s] == [pct(conflict[a][b] / n) for b in range(len(NAMES)) if b != a]

    # The conflict cell's samples: "song" (HAM) against "my" (SPAM).
    expected = [i for i, v in enumerate(votes) if "song" in v and "my" in v and v["song"] != v["my"]]
    assert expected
    assert _rows(client, project, kind="pair_conflicts", lf=ids["song"], other=ids["my"]) == expected

    api = token_client(dana)
    latest = api.get(f"/api/projects/{project.pk}/runs/latest/").json()
    assert _counts(latest["conflict_matrix"], n) == conflict
    for s in latest["lf_stats"]:
        assert {"correct", "incorrect", "learned_accuracy"} <= set(s)
    for split in ("dev", "test"):
        assert len(latest["metrics"][split]["confusion_matrix"]) == 2
        assert len(latest["metrics"][split]["calibration"]) == 10
    listed = api.get(f"/api/projects/{project.pk}/runs/").json()
    items = listed["results"] if isinstance(listed, dict) else listed
    assert (
        items[0]["id"] == run.pk and items[0]["metrics"]["dev"]["accuracy"] == run.metrics["dev"]["accuracy"]
    )


def test_metrics_drilldowns_and_history_match_plain_python(client, project, alice, bob, youtube):
    run, votes, gold, splits = youtube["run"], youtube["votes"], youtube["gold"], youtube["splits"]
    arrays = run_arrays.load(run)
    pred = [LABELS[p] if p >= 0 else None for p in arrays.pred.tolist()]
    ids = {s["name"]: s["lf"] for s in run.lf_stats}
    client.force_login(bob)

    html = client.get(reverse("analysis_metrics", args=[project.pk])).content.decode()
    for split in ("dev", "test"):
        rows = [i for i, s in enumerate(splits) if s == split]
        m = run.metrics[split]
        # Majority vote beside the label model, scored here from the regex votes alone.
        mv = split_scores([majority_vote(votes[i]) for i in rows], [gold[i] for i in rows])
        assert m["models"]["majority_vote"]["accuracy"] == pytest.approx(mv["accuracy"])
        assert m["models"]["majority_vote"]["coverage"] == pytest.approx(mv["coverage"])
        assert m["models"]["majority_vote"]["f1_macro"] == pytest.approx(mv["f1_macro"])
        table = re.search(
            rf'<table class="metrics compare" id="models-{split}">(.*?)</table>', html, re.S
        ).group(1)
        assert pct(mv["accuracy"]) in table
        # The label model's confusion matrix, gold by row, from its stored predictions.
        cells = Counter((gold[i], pred[i]) for i in rows)
        expected = [[cells[(g, p)] for p in LABELS] for g in LABELS]
        assert m["confusion_matrix"] == expected
        confusion = re.search(
            rf'<table class="confusion" id="confusion-{split}"(.*?)</table>', html, re.S
        ).group(1)
        shown = [int(x) for x in re.findall(r'<a href="[^"]*">(\d+)</a>', confusion)]
        assert shown == [x for g in LABELS for x in [*(cells[(g, p)] for p in LABELS), cells[(g, None)]]]
        # Calibration: every (sample, class) pair in ten equal bins, counted here.
        bins = [[0, 0.0, 0] for _ in range(10)]
        for i in rows:
            for c, label in enumerate(LABELS):
                p = float(arrays.proba[i, c])
                b = min(int(p * 10), 9)
                bins[b][0] += 1
                bins[b][1] += p
                bins[b][2] += gold[i] == label
        for stored, (count, total, hits) in zip(m["calibration"], bins, strict=True):
            assert stored["n"] == count
            if count:
                assert stored["predicted"] == pytest.approx(total / count, rel=1e-5)
                assert stored["observed"] == pytest.approx(hits / count)
        assert f'id="calibration-chart-{split}"' in html

    # Drill-downs: where "my" disagrees with gold; samples no LF covers; one class's predictions on dev.
    assert _rows(client, project, kind="lf_incorrect", lf=ids["my"]) == [
        i for i, v in enumerate(votes) if "my" in v and v["my"] != gold[i]
    ]
    assert _rows(client, project, kind="uncovered") == [i for i, v in enumerate(votes) if not v]
    assert _rows(client, project, kind="predicted", label="SPAM", split="dev") == [
        i for i in range(len(votes)) if pred[i] == "SPAM" and splits[i] == "dev"
    ]
    assert _rows(client, project, kind="lf_vs_model", lf=ids["song"]) == [
        i for i, v in enumerate(votes) if "song" in v and pred[i] is not None and pred[i] != v["song"]
    ]

    # History: drop "love", refit; the comparison names it and the metric deltas.
    love = project.lfs.get(name="love")
    services.update_lf(lf=love, user=alice, active=False)
    second = apply_and_refit(project)
    html = client.get(
        reverse("analysis_history", args=[project.pk]), {"a": run.pk, "b": second.pk}
    ).content.decode()
    assert "removed “love”" in html
    assert f'id="history-run-{run.pk}"' in html and f'id="history-run-{second.pk}"' in html
    delta = re.search(r'<tr id="delta-dev_accuracy">(.*?)</tr>', html, re.S).group(1)
    assert pct(run.metrics["dev"]["accuracy"]) in delta and pct(second.metrics["dev"]["accuracy"]) in delta
    assert "<svg" in html
