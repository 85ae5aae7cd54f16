"""The label page with claims, skip reasons, comments and blind mode (the annotation workflow)."""

import re

import pytest
from django.urls import reverse

from projects import queue, services
from projects.models import Annotation, Comment, Sample
from tests.conftest import add_member, make_samples, make_user, token_client

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


def _url(project):
    return reverse("label", args=[project.pk])


def _shown(response) -> str | None:
    found = re.search(
        r'<div id="sample-text" class="sample-text">(.*?)</div>', response.content.decode(), re.S
    )
    return found.group(1) if found else None


def test_two_annotators_opening_the_label_page_get_different_samples(client, project, charlie, frank):
    make_samples(project, ["a", "b", "c"])
    client.force_login(charlie)
    assert _shown(client.get(_url(project))) == "a"
    client.force_login(frank)
    assert _shown(client.get(_url(project))) == "b"
    client.force_login(charlie)
    assert _shown(client.get(_url(project))) == "a"  # a reload keeps my sample


def test_labeling_on_the_page_releases_my_claim_and_claims_the_next(client, project, charlie):
    s0, s1 = make_samples(project, ["a", "b"])
    client.force_login(charlie)
    client.get(_url(project))
    response = client.post(_url(project), {"sample": s0.pk, "label": "1"}, **HTMX)
    assert _shown(response) == "b"
    claims = dict(Sample.objects.filter(project=project).values_list("row", "claimed_by"))
    assert claims == {0: None, 1: charlie.pk}


def test_a_label_for_a_sample_someone_else_claimed_is_still_saved(client, project, charlie, frank):
    (s0,) = make_samples(project, ["a"])
    assert queue.claim_next(project, frank) == s0
    client.force_login(charlie)
    response = client.post(_url(project), {"sample": s0.pk, "label": "0"}, **HTMX)
    assert response.status_code == 200
    assert "Saved <strong>HAM</strong> for sample s0." in response.content.decode()
    assert Annotation.objects.get(sample=s0, annotator=charlie).label == 0


def test_skip_with_a_reason_stores_the_reason_and_the_page_offers_the_project_reasons(
    client, project, charlie
):
    services.update_workflow(project=project, skip_reasons="Not English\nEmpty")
    s0, _ = make_samples(project, ["a", "b"])
    client.force_login(charlie)
    html = client.get(_url(project)).content.decode()
    assert '<option value="Not English">' in html and '<option value="Empty">' in html
    assert 'data-focus-key="x"' in html
    response = client.post(_url(project), {"sample": s0.pk, "skip": "1", "reason": "Not English"}, **HTMX)
    assert "Skipped sample s0." in response.content.decode()
    mine = Annotation.objects.get(sample=s0, annotator=charlie)
    assert mine.label is None and mine.reason == "Not English"


def test_every_workflow_key_is_listed_on_the_page(client, project, charlie):
    make_samples(project, ["a"])
    client.force_login(charlie)
    html = client.get(_url(project)).content.decode()
    help_list = html[html.index('id="key-help"') :]
    for key in ("1", "2", "s", "x", "c", "?"):
        assert f"<dt><kbd>{key}</kbd></dt>" in help_list
    assert 'aria-keyshortcuts="c"' in html and 'aria-keyshortcuts="x"' in html


def test_a_comment_is_saved_and_shown_to_its_author_and_reviewers_only(client, project, charlie, frank, rita):
    (s0,) = make_samples(project, ["a"])
    client.force_login(charlie)
    url = reverse("label_comment", args=[project.pk])
    response = client.post(url, {"sample": s0.pk, "text": "sarcasm?"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="comments"') and "sarcasm?" in html
    assert Comment.objects.get(sample=s0).author == charlie
    page = f"{_url(project)}?sample={s0.pk}"
    assert "sarcasm?" in client.get(page).content.decode()
    client.force_login(frank)
    assert "sarcasm?" not in client.get(page).content.decode()
    client.force_login(rita)
    assert "sarcasm?" in client.get(page).content.decode()


def test_an_empty_comment_is_refused_in_place(client, project, charlie):
    (s0,) = make_samples(project, ["a"])
    client.force_login(charlie)
    response = client.post(
        reverse("label_comment", args=[project.pk]), {"sample": s0.pk, "text": " "}, **HTMX
    )
    assert response.status_code == 422
    assert "Comment not saved: write something first" in response.content.decode()
    assert not Comment.objects.exists()


def test_an_over_long_comment_is_refused_whole_and_kept_in_the_field(client, project, charlie):
    (s0,) = make_samples(project, ["a"])
    client.force_login(charlie)
    url = reverse("label_comment", args=[project.pk])
    text = "y" * 6000
    response = client.post(url, {"sample": s0.pk, "text": text}, **HTMX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "at most 5,000 characters and this one has 6,000; shorten it" in html
    assert f">{text}</textarea>" in html
    assert not Comment.objects.exists()

    # Without htmx: the redirect's label page says so and has the whole text back in the field, once.
    response = client.post(url, {"sample": s0.pk, "text": text}, follow=True)
    html = response.content.decode()
    assert "Comment not saved: a comment can have at most 5,000 characters" in html
    assert f">{text}</textarea>" in html
    assert f">{text}</textarea>" not in client.get(f"{_url(project)}?sample={s0.pk}").content.decode()
    assert not Comment.objects.exists()
    # Exactly the limit is saved, whole.
    assert client.post(url, {"sample": s0.pk, "text": "z" * 5000}, **HTMX).status_code == 200
    assert Comment.objects.get().text == "z" * 5000


def test_a_viewer_cannot_comment_and_an_outsider_gets_404(client, project, dana, eve):
    (s0,) = make_samples(project, ["a"])
    url = reverse("label_comment", args=[project.pk])
    client.force_login(dana)
    assert client.post(url, {"sample": s0.pk, "text": "hi"}).status_code == 403
    client.force_login(eve)
    assert client.post(url, {"sample": s0.pk, "text": "hi"}).status_code == 404
    assert not Comment.objects.exists()


def _scrub(html: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value=|X-CSRFToken": )"[^"]+"', r"\1-", html)


def test_blind_mode_shows_an_annotator_nothing_of_others_labels_in_page_fragment_or_api(
    client, project, charlie, frank
):
    services.update_workflow(project=project, overlap=3)
    (s0,) = make_samples(project, ["is this spam?"])
    _run_predicting(project, [1])
    client.force_login(charlie)
    page = f"{_url(project)}?sample={s0.pk}"
    before = (_scrub(client.get(page).content.decode()), _scrub(client.get(page, **HTMX).content.decode()))
    api = token_client(charlie)
    queued_before = api.post(reverse("api_queue_next", args=[project.pk])).json()
    services.annotate(project=project, sample=s0, user=frank, label=1)
    after = (_scrub(client.get(page).content.decode()), _scrub(client.get(page, **HTMX).content.decode()))
    assert before == after
    assert "frank" not in after[0] and "Others' labels" not in after[0] and "guess" not in after[0]
    queued_after = api.post(reverse("api_queue_next", args=[project.pk])).json()
    assert queued_after.pop("claimed_until") and queued_before.pop("claimed_until")  # the claim, extended
    assert queued_after == queued_before
    assert queued_after["others"] is None
    assert queued_after["predicted"] is None
    assert set(queued_after) == {"id", "row", "external_id", "text", "fields", "others", "predicted"}


def _run_predicting(project, predicted):
    import numpy as np

    from labeling.models import LabelModelRun, pack

    return LabelModelRun.objects.create(
        project=project,
        status="done",
        n_samples=len(predicted),
        predictions=pack(np.array(predicted, dtype=np.int16)),
    )


def test_a_project_that_is_not_blind_shows_others_labels_and_the_models_guess(
    client, project, charlie, frank
):
    services.update_workflow(project=project, overlap=3, blind=False)
    (s0,) = make_samples(project, ["is this spam?"])
    services.annotate(project=project, sample=s0, user=frank, label=1)
    _run_predicting(project, [0])
    client.force_login(charlie)
    html = client.get(_url(project)).content.decode()
    assert "Others' labels" in html and "SPAM × 1" in html
    assert "The label model's guess: <strong>HAM</strong>" in html
    answer = token_client(charlie).post(reverse("api_queue_next", args=[project.pk])).json()
    assert answer["others"] == [{"label": "SPAM", "count": 1}]
    assert answer["predicted"] == "HAM"


def test_queue_next_answers_204_when_nothing_is_left_and_checks_access(project, charlie, dana, eve):
    (s0,) = make_samples(project, ["a"])
    url = reverse("api_queue_next", args=[project.pk])
    api = token_client(charlie)
    first = api.post(url)
    assert first.status_code == 200 and first.json()["id"] == s0.pk
    services.annotate(project=project, sample=s0, user=charlie, label=0)
    assert api.post(url).status_code == 204
    assert token_client(dana).post(url).status_code == 403
    assert token_client(eve).post(url).status_code == 404


def test_the_overview_counts_what_is_left_in_my_queue(client, project, charlie, frank):
    s0, s1 = make_samples(project, ["a", "b"])
    services.annotate(project=project, sample=s0, user=frank, label=0)
    client.force_login(charlie)
    assert "1 left in my queue" in client.get(reverse("project_detail", args=[project.pk])).content.decode()


def test_the_api_records_a_skip_with_its_reason(project, charlie):
    (s0,) = make_samples(project, ["a"])
    api = token_client(charlie)
    url = reverse("api_project_annotations", args=[project.pk])
    answer = api.post(url, {"sample": s0.pk, "label": None, "reason": "Not English"}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["label"] is None and answer.json()["reason"] == "Not English"
    assert Annotation.objects.get(sample=s0, annotator=charlie).reason == "Not English"
