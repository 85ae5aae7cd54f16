"""The analysis pages on a six-sample project: access, every page renders its run's numbers, drill-downs page
by keyset, the sample page labels, query counts stay fixed as LFs are added."""

import re

import numpy as np
import pytest
from django.urls import reverse

from labeling import refit as refit_module
from labeling import run_arrays, services
from labeling.refit import calibration
from projects.models import Annotation
from tests.conftest import make_samples
from tests.labeling.helpers import apply_and_refit

TEXTS = [
    "check out my channel",
    "great song",
    "subscribe please",
    "love this song",
    "nice",
    "my video, check it out",
]
SPLITS = ["train", "train", "dev", "dev", "test", "test"]
GOLD = [1, 0, 1, 0, 0, 1]
PAGES = ["analysis", "analysis_conflicts", "analysis_metrics", "analysis_history", "analysis_overview"]


def _lf(project, user, name, pattern, label):
    return services.create_lf(
        project=project, user=user, name=name, kind="regex", label=label, config={"pattern": pattern}
    )


@pytest.fixture
def run(project, alice):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    _lf(project, alice, "my", "(?i)my", "SPAM")
    _lf(project, alice, "song", "(?i)song", "HAM")
    _lf(project, alice, "check", "(?i)check", "HAM")
    return apply_and_refit(project)


def _get(client, name, project, **params):
    return client.get(reverse(name, args=[project.pk]), params)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize("name", [*PAGES, "drilldown"])
def test_outsider_gets_404_and_annotator_403_on_analysis_pages(client, project, eve, charlie, run, name):
    client.force_login(eve)
    assert _get(client, name, project, kind="covered").status_code == 404
    client.force_login(charlie)
    assert _get(client, name, project, kind="covered").status_code == 403


def test_annotator_gets_403_for_the_sample_page(client, project, charlie, run):
    client.force_login(charlie)
    assert client.get(reverse("analysis_sample", args=[project.pk, 0])).status_code == 403


@pytest.mark.parametrize("name", PAGES[:4])
def test_pages_without_a_run_say_what_to_do(client, project, dana, name):
    client.force_login(dana)
    response = _get(client, name, project)
    assert response.status_code == 200
    assert "No label model run has finished yet" in response.content.decode()


def test_lf_table_shows_every_figure_and_sorts(client, project, dana, run):
    client.force_login(dana)
    html = _get(client, "analysis", project).content.decode()
    check = next(s for s in run.lf_stats if s["name"] == "check")
    row = _text(re.search(rf'<tr id="lf-row-{check["lf"]}">(.*?)</tr>', html, re.S).group(1))
    # "check" votes HAM on rows 0 and 5 (both gold SPAM): coverage 2/6, 0 correct, 2 incorrect.
    assert "33.3 %" in row and "regex" in row and "alice" in row and "v1" in row
    assert re.search(r"\b0\b.*\b2\b", row)
    assert "0.0 % of 2" in row
    order = lambda h: re.findall(r'<tr id="lf-row-(\d+)">', h)  # noqa: E731
    by_name = {s["lf"]: s["name"] for s in run.lf_stats}
    html = _get(client, "analysis", project, sort="name", dir="asc").content.decode()
    assert [by_name[int(i)] for i in order(html)] == ["check", "my", "song"]
    html = _get(client, "analysis", project, sort="coverage", dir="desc").content.decode()
    coverages = [next(s["coverage"] for s in run.lf_stats if s["lf"] == int(i)) for i in order(html)]
    assert coverages == sorted(coverages, reverse=True)


def test_lf_table_shows_changes_since_the_previous_run(client, project, alice, dana, run):
    lf = next(x for x in project.lfs.all() if x.name == "song")
    services.update_lf(lf=lf, user=alice, config={"pattern": "(?i)song|love"})
    _lf(project, alice, "nice", "(?i)nice", "HAM")
    second = apply_and_refit(project)
    client.force_login(dana)
    html = _get(client, "analysis", project).content.decode()
    song = next(s for s in second.lf_stats if s["name"] == "song")
    row = _text(re.search(rf'<tr id="lf-row-{song["lf"]}">(.*?)</tr>', html, re.S).group(1))
    assert "edited" in row and "v2" in row
    assert "±0" in row  # coverage 2/6 before ("great song", "love this song") and after
    nice = next(s for s in second.lf_stats if s["name"] == "nice")
    assert "new" in _text(re.search(rf'<tr id="lf-row-{nice["lf"]}">(.*?)</tr>', html, re.S).group(1))


def test_an_older_runs_figures_drill_into_that_run(client, project, alice, dana, run):
    _lf(project, alice, "nice", "(?i)nice", "HAM")
    second = apply_and_refit(project)
    assert second.pk != run.pk
    client.force_login(dana)
    html = _get(client, "analysis", project, run=run.pk).content.decode()
    links = re.findall(r'href="([^"]*/analysis/samples/[^"]*)"', html)
    assert links and all(f"run={run.pk}&amp;" in link for link in links), links
    latest = _get(client, "analysis", project).content.decode()
    assert f"run={second.pk}&amp;kind=covered" in latest
    # "nice" covers one more sample in the second run: each run's coverage drill-down lists its own rows.
    old_covered = client.get(reverse("drilldown", args=[project.pk]), {"run": run.pk, "kind": "covered"})
    new_covered = client.get(reverse("drilldown", args=[project.pk]), {"kind": "covered"})
    rows = lambda h: re.findall(r'id="drill-row-(\d+)"', h.content.decode())  # noqa: E731
    assert len(rows(new_covered)) == len(rows(old_covered)) + 1


def test_conflict_matrix_page_lists_pairs_and_links_to_their_samples(client, project, dana, run):
    client.force_login(dana)
    html = _get(client, "analysis_conflicts", project).content.decode()
    assert "<svg" in html and "The same numbers as a table" in html
    ids = {s["name"]: s["lf"] for s in run.lf_stats}
    # "my" (SPAM) and "check" (HAM) both vote on rows 0 and 5: 2 of 6 samples.
    row = re.search(rf'<tr id="matrix-row-{ids["my"]}">(.*?)</tr>', html, re.S).group(1)
    assert "33.3 %" in row
    link = (
        reverse("drilldown", args=[project.pk])
        + f"?run={run.pk}&amp;kind=pair_conflicts&amp;lf={ids['my']}&amp;other={ids['check']}"
    )
    assert link in html
    drill = client.get(link.replace("&amp;", "&")).content.decode()
    assert re.findall(r'id="drill-row-(\d+)"', drill) == ["0", "5"]
    overlap = _get(client, "analysis_conflicts", project, view="overlap").content.decode()
    assert "Where labeling functions overlap" in overlap


def test_drilldown_pages_by_keyset(client, project, dana, run, monkeypatch):
    from labeling import drilldown

    monkeypatch.setattr(drilldown, "PER_PAGE", 1)
    monkeypatch.setattr(drilldown.page, "__defaults__", (1,))
    client.force_login(dana)
    ids = {s["name"]: s["lf"] for s in run.lf_stats}
    seen = []
    params = {"kind": "lf_votes", "lf": ids["my"]}
    for _ in range(5):
        html = _get(client, "drilldown", project, **params).content.decode()
        seen += re.findall(r'id="drill-row-(\d+)"', html)
        nxt = re.search(r'id="drill-next" href="\?([^"]+)"', html)
        if not nxt:
            break
        params = dict(p.split("=") for p in nxt.group(1).replace("&amp;", "&").split("&"))
    assert seen == ["0", "5"]
    html = _get(client, "drilldown", project, kind="uncovered").content.decode()
    # "subscribe please" and "nice" get no vote; one per page here.
    assert re.findall(r'id="drill-row-(\d+)"', html) == ["2"]
    assert "after=2" in html and "2 of 6 samples" in html


def test_drilldown_rejects_an_unknown_lf(client, project, dana, run):
    client.force_login(dana)
    assert _get(client, "drilldown", project, kind="lf_votes", lf="999999").status_code == 400


def test_sample_page_shows_votes_probabilities_and_labels_it(client, project, bob, run):
    client.force_login(bob)
    url = reverse("analysis_sample", args=[project.pk, 0])
    html = client.get(url).content.decode()
    assert "<mark>check</mark>" in html and "<mark>my</mark>" in html
    a = run_arrays.load(run)
    assert f"{float(a.proba[0].max()) * 100:.1f} %" in html
    response = client.post(url, {"label": "HAM"})
    assert response.status_code == 302
    assert Annotation.objects.get(sample__project=project, sample__row=0, annotator=bob).label == 0


def test_calibration_bins_pool_every_class():
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.55, 0.45]])
    gold = np.array([0, 0, -1])
    bins = {(b["low"], b["high"]): b for b in calibration(proba, gold, bins=2)}
    low, high = bins[(0.0, 0.5)], bins[(0.5, 1.0)]
    # points: (0.9, hit) (0.1, miss) (0.3, hit) (0.7, miss); the no-gold row is left out.
    assert (low["n"], high["n"]) == (2, 2)
    assert low["predicted"] == pytest.approx(0.2) and low["observed"] == pytest.approx(0.5)
    assert high["predicted"] == pytest.approx(0.8) and high["observed"] == pytest.approx(0.5)


QUERY_PAGES = [
    ("analysis", {}),
    ("analysis", {"sort": "coverage"}),
    ("analysis_conflicts", {}),
    ("analysis_conflicts", {"view": "overlap"}),
    ("analysis_metrics", {}),
    ("analysis_history", {}),
    ("analysis_overview", {}),
    ("drilldown", {"kind": "covered"}),
    ("drilldown", {"kind": "model_vs_gold", "split": "dev"}),
]
# Session, user, project, role, then the page's own reads; the same with 3 LFs and 6 samples as with 9 and 66.
MAX_QUERIES = 10


def _query_counts(client, project) -> list[int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for name, params in QUERY_PAGES:
        with CaptureQueriesContext(connection) as ctx:
            assert _get(client, name, project, **params).status_code == 200
        counts.append(len(ctx.captured_queries))
    return counts


def test_query_counts_do_not_grow_with_samples_or_lfs(
    client, project, alice, dana, run, django_assert_max_num_queries
):
    client.force_login(dana)
    small = _query_counts(client, project)
    make_samples(
        project, [f"my song {i} check nice subscribe" for i in range(60)], splits=["dev", "test"] * 30
    )
    services.samples_added(project, 6, 60)
    for i in range(6):
        _lf(project, alice, f"extra{i}", f"(?i){'subscribe nice song my check love'.split()[i]}", "SPAM")
    apply_and_refit(project)
    again = services.request_refit(project=project, force=True)  # history: three runs now
    refit_module.refit(again.pk)
    assert _query_counts(client, project) == small
    sample_url = reverse("analysis_sample", args=[project.pk, 3])
    for name, params in QUERY_PAGES:
        with django_assert_max_num_queries(MAX_QUERIES):
            _get(client, name, project, **params)
    with django_assert_max_num_queries(MAX_QUERIES):
        client.get(sample_url)
