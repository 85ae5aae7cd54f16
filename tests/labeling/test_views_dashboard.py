"""The dashboard shows the stored figures of the latest done run, and the samples where LFs conflict."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from labeling import services
from labeling.templatetags.labeling_format import dec, pct
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


def _lfs(project, user):
    services.create_lf(
        project=project, user=user, name="my", kind="regex", label="SPAM", config={"pattern": "(?i)my"}
    )
    services.create_lf(
        project=project, user=user, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    services.create_lf(
        project=project, user=user, name="check", kind="keyword", label="HAM", config={"keywords": ["check"]}
    )


@pytest.fixture
def run(project, alice):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    _lfs(project, alice)
    return apply_and_refit(project)


def _page(client, project, **params):
    response = client.get(reverse("dashboard", args=[project.pk]), params)
    assert response.status_code == 200
    return response.content.decode()


def _cells(html, row_id):
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]


def test_dashboard_without_a_run_says_what_to_do(client, project, dana):
    client.force_login(dana)
    html = _page(client, project)
    assert "No label model run yet — write a labeling function in the" in html
    assert reverse("lf_studio", args=[project.pk]) in html


def test_dashboard_shows_the_runs_per_lf_figures(client, project, dana, run):
    client.force_login(dana)
    html = _page(client, project)
    assert [s["name"] for s in run.lf_stats] == ["my", "song", "check"]
    for s in run.lf_stats:
        text = " ".join(" ".join(c) for c in _cells(html, f"lf-stat-{s['lf']}"))
        assert s["name"] in text
        assert pct(s["coverage"]) in text
        assert pct(s["overlaps"]) in text
        assert pct(s["conflicts"]) in text
        assert f"{s['correct']} / {s['incorrect']}" in text
        assert pct(s["empirical_accuracy"]) in text
        assert ", ".join(s["polarity"]) in text
    # "my" votes SPAM on rows 0 and 5, both gold SPAM; "check" votes HAM on the same rows, both wrong.
    check = run.lf_stats[2]
    assert (check["correct"], check["incorrect"], check["empirical_accuracy"]) == (0, 2, 0.0)
    assert "0.0 %" in " ".join(" ".join(c) for c in _cells(html, f"lf-stat-{check['lf']}"))


def test_dashboard_shows_the_whole_matrix_and_the_model_on_each_split(client, project, dana, run):
    client.force_login(dana)
    html = _page(client, project)
    summary = run.summary
    assert re.search(rf'id="fig-coverage">{re.escape(pct(summary["coverage"]))}<', html)
    assert re.search(rf'id="fig-overlap">{re.escape(pct(summary["overlap"]))}<', html)
    assert f"{pct(summary['conflict'])}</a>" in html
    assert re.search(rf'id="fig-uninformative">{summary["uninformative"]}<', html)
    assert "Tie policy: <strong>abstain</strong>" in html
    assert f"Label model: <strong>{run.model['chosen']}</strong>" in html
    assert "accuracy (covered)" in html and "accuracy (overall)" in html
    for split in ("dev", "test"):
        m = run.metrics[split]
        cells = [" ".join(c) for c in _cells(html, f"metrics-{split}")]
        assert cells[0] == split
        assert cells[1:3] == [str(m["n"]), str(m["n_gold"])]
        assert cells[3].startswith(pct(m["coverage"]))
        assert cells[4:] == [
            pct(m["accuracy_covered"]),
            pct(m["accuracy"]),
            dec(m["f1_macro_covered"]),
            dec(m["f1_macro"]),
        ]
    # The predicted distribution counts every sample the model labeled.
    for label, count in summary["predicted_distribution"].items():
        assert re.search(rf"<th scope=\"row\">{label}</th>\s*<td class=\"num\">{count} ", html)


def test_conflicting_samples_show_which_lf_voted_what(client, project, dana, run):
    assert run.conflict_rows == [0, 5]
    client.force_login(dana)
    html = _page(client, project)
    for row in (0, 5):
        item = re.search(
            rf'<li class="conflict" id="conflict-row-{row}">(.*?)</li>\s*(?=<li|</ul>)', html, re.S
        ).group(1)
        votes = re.findall(r'<span class="lf-name">([^<]+)</span> → <strong>([^<]+)</strong>', item)
        assert votes == [("my", "SPAM"), ("check", "HAM")]
        assert TEXTS[row] in item
    assert 'id="conflict-row-1"' not in html
    assert run.conflict_detail["votes"] == [[1, -1, 0], [1, -1, 0]]


def test_conflicts_of_a_run_without_stored_detail_come_from_the_vote_arrays(client, project, dana, run):
    stored = run.conflict_detail
    type(run).objects.filter(pk=run.pk).update(conflict_detail={})
    client.force_login(dana)
    html = _page(client, project)
    item = re.search(r'<li class="conflict" id="conflict-row-5">(.*?)</li>', html, re.S).group(1)
    votes = re.findall(r'<span class="lf-name">([^<]+)</span> → <strong>([^<]+)</strong>', item)
    assert votes == [("my", "SPAM"), ("check", "HAM")]
    predicted = run.project.label_name(stored["predicted"][1]) or "no label"
    assert f"label model: {predicted}" in item


def test_conflicts_page_by_keyset_and_filter_by_lf(client, project, alice, dana):
    texts = [f"my check {i}" if i % 2 == 0 else f"my song {i}" for i in range(60)]
    make_samples(project, texts)
    _lfs(project, alice)
    run = apply_and_refit(project)
    assert len(run.conflict_rows) == 60
    client.force_login(dana)
    first = _page(client, project)
    rows = [int(r) for r in re.findall(r'id="conflict-row-(\d+)"', first)]
    assert rows == list(range(20))
    nxt = re.search(r'href="\?after=(\d+)#conflicts"', first).group(1)
    assert nxt == "19"
    fragment = client.get(
        reverse("dashboard", args=[project.pk]),
        {"after": nxt},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="conflicts",
    ).content.decode()
    assert fragment.lstrip().startswith('<section id="conflicts"')
    assert [int(r) for r in re.findall(r'id="conflict-row-(\d+)"', fragment)] == list(range(20, 40))
    song = next(s for s in run.lf_stats if s["name"] == "song")
    only_song = _page(client, project, lf=song["lf"])
    rows = [int(r) for r in re.findall(r'id="conflict-row-(\d+)"', only_song)]
    assert rows == list(range(1, 40, 2))
    assert "where “song” votes" in only_song


def test_dashboard_queries_do_not_grow_with_the_samples(client, project, alice, dana):
    make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)
    _lfs(project, alice)
    apply_and_refit(project)
    client.force_login(dana)
    _page(client, project)
    with CaptureQueriesContext(connection) as small:
        _page(client, project)
    make_samples(project, TEXTS * 30, splits=SPLITS * 30, gold=GOLD * 30)
    for version in services.current_versions(project):
        version.status = "queued"
        version.save(update_fields=["status"])
    run = apply_and_refit(project)
    assert run.n_samples == len(TEXTS) * 31
    with CaptureQueriesContext(connection) as large:
        _page(client, project)
    assert len(large) == len(small)
    # The conflict list comes from the run's stored detail, not from whole vote or prediction arrays.
    assert not [
        q["sql"] for q in large.captured_queries if '"votes"' in q["sql"] or '"predictions"' in q["sql"]
    ]
    studio = reverse("lf_studio", args=[project.pk])
    client.force_login(alice)
    with CaptureQueriesContext(connection) as studio_queries:
        client.get(studio)
    assert len(studio_queries) < 20


def test_viewer_sees_no_refit_button_and_developer_does(client, project, dana, bob, run):
    client.force_login(dana)
    assert "Refit now" not in _page(client, project)
    client.force_login(bob)
    assert "Refit now" in _page(client, project)
    response = client.post(reverse("refit", args=[project.pk]))
    assert response.status_code == 302
    client.force_login(dana)
    assert client.post(reverse("refit", args=[project.pk])).status_code == 403


def test_dashboard_reloads_when_a_run_ends(client, project, dana, run):
    client.force_login(dana)
    html = _page(client, project)
    assert 'hx-trigger="chorus:run-finished from:body"' in html
    fragment = client.get(
        reverse("dashboard", args=[project.pk]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dashboard"
    ).content.decode()
    assert fragment.lstrip().startswith('<div id="dashboard"')
    assert "<html" not in fragment
