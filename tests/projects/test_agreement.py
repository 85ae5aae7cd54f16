"""Agreement between annotators and the quality table, from the Annotation rows, checked against numbers
worked out by hand (in the comments) for one small project.

charlie, frank and gina label five samples (HAM = 0, SPAM = 1):

    s0: 0 0 0     s1: 1 1 0     s2: 1 1 1     s3: 0 1 -     s4: 1 - -   (s4 has one label: it does not count)

Pairs: charlie-frank share s0..s3 and agree on 3: p_o = 3/4; charlie 2 HAM 2 SPAM, frank 1 HAM 3 SPAM, so
p_e = 2/4*1/4 + 2/4*3/4 = 1/2 and kappa = (3/4 - 1/2) / (1/2) = 0.5. charlie-gina (and frank-gina, the same
labels) share s0..s2 and agree on 2: p_o = 2/3, p_e = 1/3*2/3 + 2/3*1/3 = 4/9, kappa = (2/9) / (5/9) = 0.4.
Project: per-sample agreement 1, 1/3, 1, 0 (pairs agreeing of the sample's pairs), mean 7/12. Labels per
sample vary (3, 3, 3, 2): Fleiss' kappa is undefined. Krippendorff: the coincidence diagonal sums
3 + 1 + 3 + 0 = 7, class totals n_HAM = 5, n_SPAM = 6, n = 11: alpha = 1 - 10 * (11 - 7) / (121 - 25 - 36)
= 1 - 40/60 = 1/3.
"""

import pytest
from django.urls import reverse

from projects import checks, quality, services
from projects.models import AuditEvent, Sample
from tests.conftest import add_member, make_samples, make_user, token_client

LABELS = {
    "charlie": [0, 1, 1, 0, 1],
    "frank": [0, 1, 1, 1, None],
    "gina": [0, 0, 1, None, None],
}


@pytest.fixture
def crowd(project, charlie):
    services.update_workflow(project=project, overlap=3)
    frank, gina = make_user("frank"), make_user("gina")
    add_member(project, frank, "annotator")
    add_member(project, gina, "annotator")
    samples = make_samples(project, [f"text {i}" for i in range(5)])
    users = {"charlie": charlie, "frank": frank, "gina": gina}
    for name, labels in LABELS.items():
        for sample, label in zip(samples, labels, strict=True):
            if label is not None:
                services.annotate(project=project, sample=sample, user=users[name], label=label)
    return samples, users


def _pairs(result):
    return {(p["annotator_a"], p["annotator_b"]): p for p in result["pairs"]}


def test_the_projects_agreement_matches_the_hand_computed_figures(project, crowd):
    result = quality.project_agreement(project)
    assert result["annotators"] == 3
    assert result["n_items"] == 4 and result["n_labels"] == 11
    assert result["labels_per_item"] is None and result["fleiss_kappa"] is None
    assert result["percent_agreement"] == pytest.approx(7 / 12)
    assert result["krippendorff_alpha"] == pytest.approx(1 / 3)
    pairs = _pairs(result)
    assert set(pairs) == {("charlie", "frank"), ("charlie", "gina"), ("frank", "gina")}
    assert pairs["charlie", "frank"]["n_items"] == 4
    assert pairs["charlie", "frank"]["percent_agreement"] == pytest.approx(0.75)
    assert pairs["charlie", "frank"]["kappa"] == pytest.approx(0.5)
    for pair in (("charlie", "gina"), ("frank", "gina")):
        assert pairs[pair]["n_items"] == 3
        assert pairs[pair]["percent_agreement"] == pytest.approx(2 / 3)
        assert pairs[pair]["kappa"] == pytest.approx(0.4)


def test_a_skip_is_no_label_and_a_fixed_overlap_gives_fleiss_kappa(project, crowd):
    """frank skips s3 instead: s3 has one label left, so s0..s2 count, three labels each. Fleiss: P-bar =
    (1 + 1/3 + 1) / 3 = 7/9; class shares 4/9 and 5/9, p_e = 41/81; kappa = (7/9 - 41/81) / (40/81) = 22/40.
    Krippendorff: diagonal 3 + 1 + 3 = 7, n = 9 (4 HAM, 5 SPAM): alpha = 1 - 8 * 2 / (81 - 16 - 25) = 0.6."""
    samples, users = crowd
    services.annotate(project=project, sample=samples[3], user=users["frank"], label=None, reason="unsure")
    result = quality.project_agreement(project)
    assert result["n_items"] == 3 and result["labels_per_item"] == 3
    assert result["percent_agreement"] == pytest.approx(7 / 9)
    assert result["fleiss_kappa"] == pytest.approx(22 / 40)
    assert result["krippendorff_alpha"] == pytest.approx(0.6)


def test_an_excluded_annotator_stops_counting_for_agreement_and_gold(project, crowd, alice):
    """Without gina: charlie and frank on s0..s3, two labels each. Percent 3/4; Fleiss: shares 3/8 HAM,
    5/8 SPAM, p_e = 34/64, kappa = (48/64 - 34/64) / (30/64) = 14/30; Krippendorff: diagonal 2+2+2+0 = 6,
    n = 8: alpha = 1 - 7 * 2 / (64 - 9 - 25) = 16/30."""
    samples, users = crowd
    s1 = Sample.objects.get(pk=samples[1].pk)
    assert s1.gold_label is None and s1.disputed  # 1 1 0
    checks.exclude_annotator(project=project, annotator=users["gina"], by=alice)
    result = quality.project_agreement(project)
    assert result["annotators"] == 2 and result["n_items"] == 4 and result["labels_per_item"] == 2
    assert result["percent_agreement"] == pytest.approx(0.75)
    assert result["fleiss_kappa"] == pytest.approx(14 / 30)
    assert result["krippendorff_alpha"] == pytest.approx(16 / 30)
    assert set(_pairs(result)) == {("charlie", "frank")}
    s1.refresh_from_db()
    assert s1.gold_label == 1 and not s1.disputed  # charlie and frank agree on SPAM
    # With gina's labels gone, s0..s2 have two of the three labels the overlap asks for: back in the queue.
    assert set(Sample.objects.filter(project=project, queued=True).values_list("row", flat=True)) == {
        0,
        1,
        2,
        3,
        4,
    }
    event = AuditEvent.objects.filter(project=project, action="annotator.excluded").get()
    assert event.actor == alice and event.target_label == "gina" and event.details["labels"] == 3
    # Reversible: gina's labels count again.
    checks.include_annotator(project=project, annotator=users["gina"], by=alice)
    s1.refresh_from_db()
    assert s1.gold_label is None and s1.disputed
    assert quality.project_agreement(project)["krippendorff_alpha"] == pytest.approx(1 / 3)
    assert AuditEvent.objects.filter(project=project, action="annotator.included").count() == 1


def test_the_quality_table_gives_accuracy_on_checks_and_agreement_with_others(project, crowd, alice):
    """Checks: s1 with the answer HAM, s2 with SPAM. charlie 1 right of 2 (kappa: p_o 1/2, p_e = 0*1/2 +
    1*1/2 = 1/2, so 0), gina 2 of 2 (kappa 1). Agreement with others from totals: charlie 3+2 of 4+3 = 5/7,
    frank the same, gina 2+2 of 3+3 = 4/6."""
    samples, users = crowd
    checks.mark_checks(project=project, items=[(samples[1], 0), (samples[2], None)], by=alice)
    rows = {q["annotator"]: q for q in quality.annotator_quality(project)}
    c, f, g = rows["charlie"], rows["frank"], rows["gina"]
    assert (c["labeled"], f["labeled"], g["labeled"]) == (5, 4, 3)
    assert (c["checks_answered"], c["checks_correct"]) == (2, 1)
    assert c["check_accuracy"] == pytest.approx(0.5) and c["check_kappa"] == pytest.approx(0.0)
    assert (g["checks_answered"], g["checks_correct"]) == (2, 2)
    assert g["check_accuracy"] == 1.0 and g["check_kappa"] == pytest.approx(1.0)
    assert (c["agreeing_with_others"], c["shared_with_others"]) == (5, 7)
    assert f["agreement_with_others"] == pytest.approx(5 / 7)
    assert g["agreement_with_others"] == pytest.approx(4 / 6)
    # Excluding gina: the others' agreement is against counted annotators only; gina's row is still measured.
    checks.exclude_annotator(project=project, annotator=users["gina"], by=alice)
    rows = {q["annotator"]: q for q in quality.annotator_quality(project)}
    assert rows["charlie"]["agreement_with_others"] == pytest.approx(3 / 4)
    assert rows["gina"]["excluded"] and rows["gina"]["agreement_with_others"] == pytest.approx(4 / 6)


def test_the_agreement_page_shows_the_figures_and_pairs(client, project, crowd, dana):
    client.force_login(dana)  # a viewer reads agreement, not the quality table
    html = client.get(reverse("agreement", args=[project.pk])).content.decode()
    assert 'id="percent-agreement">58.3 %' in html
    assert 'id="krippendorff-alpha">0.333' in html
    assert 'id="fleiss-kappa">n/a' in html
    assert (
        '<th scope="row">charlie</th><td>frank</td><td class="num">4</td><td class="num">75.0 %</td><td class="num">0.500</td>'
        in html
    )
    assert "annotator-quality" not in html


def test_the_quality_table_is_for_admins_and_reviewers_and_admins_exclude(client, project, crowd, alice):
    samples, users = crowd
    rita = make_user("rita")
    add_member(project, rita, "reviewer")
    client.force_login(rita)
    html = client.get(reverse("agreement", args=[project.pk])).content.decode()
    assert 'id="annotator-quality"' in html and "Exclude labels" not in html
    exclusion = reverse("annotator_exclusion", args=[project.pk, users["gina"].pk])
    assert client.post(exclusion).status_code == 403
    client.force_login(alice)
    response = client.post(exclusion, {"exclude": "1"}, follow=True)
    html = response.content.decode()
    assert "Excluded gina" in html and "Include again" in html
    assert quality.project_agreement(project)["annotators"] == 2
    client.post(exclusion, {"include": "1"})
    assert quality.project_agreement(project)["annotators"] == 3


def test_the_agreement_api_and_quality_api(project, crowd, alice, bob, charlie, dana):
    samples, users = crowd
    url = reverse("api_project_agreement", args=[project.pk])
    data = token_client(dana).get(url).json()
    assert data["n_items"] == 4 and data["krippendorff_alpha"] == pytest.approx(1 / 3)
    assert {(p["annotator_a"], p["annotator_b"]): p["kappa"] for p in data["pairs"]}[
        ("charlie", "frank")
    ] == pytest.approx(0.5)
    assert token_client(charlie).get(url).status_code == 403  # annotators see no agreement figures
    quality_url = reverse("api_project_quality", args=[project.pk])
    assert token_client(bob).get(quality_url).status_code == 403
    rows = {q["annotator"]: q for q in token_client(alice).get(quality_url).json()}
    assert rows["charlie"]["labeled"] == 5 and rows["charlie"]["agreement_with_others"] == pytest.approx(
        5 / 7
    )
    exclusion = reverse("api_annotator_exclusion", args=[project.pk, users["gina"].pk])
    assert token_client(bob).post(exclusion).status_code == 403
    response = token_client(alice).post(exclusion)
    assert response.status_code == 201 and response.json()["excluded"] is True
    assert token_client(dana).get(url).json()["annotators"] == 2
    assert token_client(alice).delete(exclusion).status_code == 204
    again = token_client(alice).delete(exclusion)
    assert again.status_code == 400 and "not excluded" in again.content.decode()
    nobody = reverse("api_annotator_exclusion", args=[project.pk, dana.pk])  # dana labeled nothing
    assert token_client(alice).post(nobody).status_code == 404


def test_the_project_overview_shows_annotator_progress_and_agreement(client, project, crowd, bob):
    client.force_login(bob)
    html = client.get(
        reverse("analysis_overview", args=[project.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="overview-annotators"' in html and '<th scope="row">charlie</th><td class="num">5</td>' in html
    assert 'id="overview-agreement"' in html
    assert '<th scope="row">Krippendorff\'s alpha</th><td class="num">0.333</td>' in html
    assert "58.3 %" in html


def test_an_annotator_sees_no_agreement_anywhere(client, project, crowd, charlie):
    client.force_login(charlie)
    assert client.get(reverse("agreement", args=[project.pk])).status_code == 403
    assert client.get(reverse("analysis_overview", args=[project.pk])).status_code == 403
    html = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "gree" not in html.replace("Agreed", "")  # no agreement figure, link or nav entry


def test_the_page_lists_the_pairs_with_most_samples_first_and_says_how_many_more(
    client, project, crowd, dana, monkeypatch
):
    from projects import quality_views

    monkeypatch.setattr(quality_views, "PAIRS_SHOWN", 1)
    client.force_login(dana)
    html = client.get(reverse("agreement", args=[project.pk])).content.decode()
    assert '<th scope="row">charlie</th><td>frank</td>' in html  # 4 samples in common, the most
    assert "<td>gina</td>" not in html and "2 more in the API" in html
