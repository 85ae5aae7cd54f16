"""The review page: disagreements one at a time, names visible, adjudicated with a key into the gold label."""

import re

import pytest
from django.urls import reverse

from projects import queue, services
from projects.models import Adjudication, Sample
from projects.signals import gold_changed
from tests.conftest import add_member, make_samples, make_user

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def frank(project):
    user = make_user("frank")
    add_member(project, user, "annotator")
    return user


@pytest.fixture
def rita(project):
    """Reviewer."""
    user = make_user("rita")
    add_member(project, user, "reviewer")
    return user


@pytest.fixture
def disagreement(project, charlie, frank):
    services.update_workflow(project=project, overlap=2)
    s0, s1, s2 = make_samples(project, ["buy now", "nice video", "hello"])
    services.annotate(project=project, sample=s0, user=charlie, label=0)
    services.annotate(project=project, sample=s0, user=frank, label=1)
    services.annotate(project=project, sample=s1, user=charlie, label=1)
    services.annotate(project=project, sample=s1, user=frank, label=1)  # agreed: not a disagreement
    services.annotate(project=project, sample=s2, user=charlie, label=1)
    services.annotate(project=project, sample=s2, user=frank, label=0)
    return s0, s1, s2


def _url(project):
    return reverse("review", args=[project.pk])


def _shown(response) -> str | None:
    found = re.search(
        r'<div id="sample-text" class="sample-text">(.*?)</div>', response.content.decode(), re.S
    )
    return found.group(1) if found else None


def test_the_review_page_shows_a_disagreement_with_each_annotators_label(client, project, rita, disagreement):
    client.force_login(rita)
    response = client.get(_url(project))
    html = response.content.decode()
    assert _shown(response) == "buy now"
    rows = re.findall(r"<tr><td>(\w+)</td><td><strong>(\w+)</strong>", html)
    assert sorted(rows) == [("charlie", "HAM"), ("frank", "SPAM")]
    assert "2</strong> disagreements waiting" in html
    assert re.search(r'data-key="1" aria-keyshortcuts="1"><kbd>1</kbd> HAM</button>', html)
    assert 'data-key="ArrowRight"' in html  # the next disagreement, s2


def test_a_key_adjudicates_the_gold_label_fires_gold_changed_and_the_next_comes(
    client, project, rita, disagreement, django_capture_on_commit_callbacks
):
    s0, _, s2 = disagreement
    sent = []

    def receiver(sender, project, sample_ids, **kwargs):
        sent.append(sample_ids)

    gold_changed.connect(receiver)
    try:
        client.force_login(rita)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(_url(project), {"sample": s0.pk, "label": "1"}, **HTMX)
    finally:
        gold_changed.disconnect(receiver)
    assert response.status_code == 200
    assert "Adjudicated sample s0 as <strong>SPAM</strong>." in response.content.decode()
    assert _shown(response) == "hello"
    s0.refresh_from_db()
    assert s0.gold_label == 1 and not s0.disputed and not s0.queued
    assert Adjudication.objects.get(sample=s0).reviewer == rita
    assert [s0.pk] in sent


def test_adjudication_wins_over_later_hand_labels(project, charlie, rita, disagreement):
    s0, _, _ = disagreement
    services.adjudicate(project=project, sample=s0, user=rita, label=0)
    services.annotate(project=project, sample=s0, user=charlie, label=1)
    s0.refresh_from_db()
    assert s0.gold_label == 0 and not s0.disputed
    assert services.agreed_label([1, 1], adjudicated=0) == 0


def test_an_adjudicated_sample_leaves_the_review_list_and_the_queue(client, project, alice, disagreement):
    s0, _, s2 = disagreement
    services.update_workflow(project=project, overlap=3)
    newcomer = make_user("gina")
    add_member(project, newcomer, "annotator")
    assert queue.claim_next(project, newcomer) == s0
    services.adjudicate(project=project, sample=s0, user=alice, label=0)
    queue.release(project, newcomer)
    assert queue.claim_next(project, newcomer) != s0
    client.force_login(alice)  # admins review too
    assert _shown(client.get(_url(project))) == "hello"
    services.adjudicate(project=project, sample=s2, user=alice, label=0)
    html = client.get(_url(project)).content.decode()
    assert "No disagreements to review" in html


def test_an_imported_label_that_an_annotator_contradicts_is_a_disagreement(client, project, charlie, rita):
    (s0,) = make_samples(project, ["a"], gold=[1])
    services.annotate(project=project, sample=s0, user=charlie, label=0)
    assert Sample.objects.get(pk=s0.pk).disputed
    client.force_login(rita)
    html = client.get(_url(project)).content.decode()
    assert "<tr><td>imported</td><td><strong>SPAM</strong>" in html


def test_a_bad_label_is_refused_in_place(client, project, rita, disagreement):
    s0, _, _ = disagreement
    client.force_login(rita)
    response = client.post(_url(project), {"sample": s0.pk, "label": "9"}, **HTMX)
    assert response.status_code == 422
    assert "Not saved: label must be one of HAM, SPAM" in response.content.decode()
    assert not Adjudication.objects.exists()


def test_annotators_developers_and_viewers_get_403_and_outsiders_404(
    client, project, bob, charlie, dana, eve, disagreement
):
    s0, _, _ = disagreement
    for user, code in ((bob, 403), (charlie, 403), (dana, 403), (eve, 404)):
        client.force_login(user)
        assert client.get(_url(project)).status_code == code
        assert client.post(_url(project), {"sample": s0.pk, "label": "0"}).status_code == code
    assert not Adjudication.objects.exists()


def test_without_htmx_adjudicating_redirects_back_to_the_review_page(client, project, rita, disagreement):
    s0, _, _ = disagreement
    client.force_login(rita)
    response = client.post(_url(project), {"sample": s0.pk, "label": "0"})
    assert response.status_code == 302 and response["Location"] == _url(project)
    assert "Adjudicated sample s0 as HAM." in client.get(_url(project)).content.decode()


def test_a_reviewer_sees_comments_on_the_review_page(client, project, charlie, rita, disagreement):
    s0, _, _ = disagreement
    services.add_comment(project=project, sample=s0, user=charlie, text="could be either")
    client.force_login(rita)
    assert "could be either" in client.get(_url(project)).content.decode()


def test_a_reviewer_comments_from_the_review_page_with_c(client, project, rita, disagreement):
    s0, _, _ = disagreement
    client.force_login(rita)
    html = client.get(_url(project)).content.decode()
    assert 'data-focus-key="c"' in html and "<dt><kbd>c</kbd></dt>" in html
    action = re.search(r'<form method="post" action="([^"]+)"[^>]*hx-target="#comments"', html).group(1)
    response = client.post(action, {"sample": s0.pk, "text": "HAM: no link"}, **HTMX)
    assert response.status_code == 200 and "HAM: no link" in response.content.decode()
    assert "HAM: no link" in client.get(_url(project)).content.decode()
