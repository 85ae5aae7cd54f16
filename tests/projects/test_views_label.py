"""The labeling page: a key posts a label, skip, undo and back, the queue moving on, what an annotator sees."""

import re

from django.urls import reverse

from projects import services
from projects.models import Annotation
from tests.conftest import make_samples

HTMX = {"HTTP_HX_REQUEST": "true"}


def _url(project):
    return reverse("label", args=[project.pk])


def _label(client, project, sample, index, htmx=True):
    return client.post(_url(project), {"sample": sample.pk, "label": str(index)}, **(HTMX if htmx else {}))


def _shown(response) -> str | None:
    """The text of the sample on the card (htmx fragments carry no test context, so read the HTML)."""
    found = re.search(
        r'<div id="sample-text" class="sample-text">(.*?)</div>', response.content.decode(), re.S
    )
    return found.group(1) if found else None


def _link(response, key) -> int | None:
    """The sample id the Back (ArrowLeft) or Forward (ArrowRight) link opens; 0 for the queue itself."""
    for tag in re.findall(r"<a [^>]*>", response.content.decode()):
        if f'data-key="{key}"' in tag:
            found = re.search(r'href="[^"?]*(?:\?sample=(\d+))?"', tag)
            return int(found.group(1) or 0)
    return None


def _mine(project, user):
    return dict(
        Annotation.objects.filter(project=project, annotator=user).values_list("sample__external_id", "label")
    )


def test_label_page_shows_the_first_unlabeled_sample_with_keys_and_instructions(client, project, charlie):
    project.instructions = "SPAM advertises something."
    project.save()
    make_samples(project, ["first sample", "second sample"])
    client.force_login(charlie)
    response = client.get(_url(project))
    html = response.content.decode()
    assert response.context["sample"].external_id == "s0"
    assert "first sample" in html and "second sample" not in html
    assert "SPAM advertises something." in html
    assert re.search(r'data-key="1" aria-keyshortcuts="1"><kbd>1</kbd> HAM</button>', html)
    assert re.search(r'data-key="2" aria-keyshortcuts="2"><kbd>2</kbd> SPAM</button>', html)
    assert 'data-key="s"' in html and "Skip" in html
    assert "0</strong> of 2 labeled" in html


def test_a_key_submit_stores_my_label_and_swaps_in_the_next_sample(client, project, charlie):
    first, second = make_samples(project, ["buy now", "nice video"])
    client.force_login(charlie)
    response = _label(client, project, first, 1)
    assert response.status_code == 200
    assert _mine(project, charlie) == {"s0": 1}
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="label-card"')  # the card fragment, not the whole page
    assert "<html" not in html
    assert "Saved <strong>SPAM</strong> for sample s0." in html
    assert _shown(response) == "nice video"
    assert "1</strong> of 2 labeled" in html


def test_without_htmx_a_label_post_redirects_back_to_the_queue(client, project, charlie):
    first, second = make_samples(project, ["buy now", "nice video"])
    client.force_login(charlie)
    response = _label(client, project, first, 0, htmx=False)
    assert response.status_code == 302 and response["Location"] == _url(project)
    page = client.get(_url(project))
    assert page.context["sample"] == second
    assert "Saved HAM for sample s0." in page.content.decode()


def test_skip_records_a_skip_and_moves_on(client, project, charlie):
    first, second = make_samples(project, ["unclear", "clear"])
    client.force_login(charlie)
    response = client.post(_url(project), {"sample": first.pk, "skip": "1"}, **HTMX)
    assert _mine(project, charlie) == {"s0": None}
    assert _shown(response) == "clear"
    assert "Skipped sample s0." in response.content.decode()


def test_the_queue_moves_on_and_ends_with_an_empty_state(client, project, charlie):
    samples = make_samples(project, ["a", "b", "c"])
    client.force_login(charlie)
    seen = []
    for sample in samples:
        seen.append(_shown(client.get(_url(project), **HTMX)))
        _label(client, project, sample, 0)
    assert seen == ["a", "b", "c"]
    html = client.get(_url(project)).content.decode()
    assert "All samples are labeled" in html
    assert "You labeled 3 and skipped 0 of 3" in html


def test_samples_nobody_labeled_come_first(client, project, charlie, bob):
    first, second = make_samples(project, ["a", "b"])
    services.annotate(project=project, sample=first, user=bob, label=0)
    client.force_login(charlie)
    assert client.get(_url(project)).context["sample"] == second


def test_undo_removes_my_last_label_and_shows_that_sample_again(client, project, charlie):
    first, second = make_samples(project, ["a", "b"])
    client.force_login(charlie)
    _label(client, project, first, 1)
    card = client.get(_url(project), **HTMX).content.decode()
    assert 'name="undo"' in card and f'name="sample" value="{first.pk}"' in card
    response = client.post(_url(project), {"sample": first.pk, "undo": "1"}, **HTMX)
    assert _mine(project, charlie) == {}
    assert _shown(response) == "a"
    assert "Removed your label on sample s0" in response.content.decode()


def test_undo_after_a_change_puts_the_old_label_back(client, project, charlie):
    (first,) = make_samples(project, ["a"])
    client.force_login(charlie)
    _label(client, project, first, 0)
    _label(client, project, first, 1)
    assert _mine(project, charlie) == {"s0": 1}
    response = client.post(_url(project), {"sample": first.pk, "undo": "1"}, **HTMX)
    assert _mine(project, charlie) == {"s0": 0}
    assert "Put back your <strong>HAM</strong> label on sample s0" in response.content.decode()
    # One step only: a second undo removes the label, as for a new one.
    client.post(_url(project), {"sample": first.pk, "undo": "1"}, **HTMX)
    assert _mine(project, charlie) == {}


def test_undo_of_a_skip_says_it_was_a_skip(client, project, charlie):
    (first,) = make_samples(project, ["a"])
    client.force_login(charlie)
    client.post(_url(project), {"sample": first.pk, "skip": "1"}, **HTMX)
    response = client.post(_url(project), {"sample": first.pk, "undo": "1"}, **HTMX)
    assert "Removed your skip of sample s0; label it now." in response.content.decode()
    assert _mine(project, charlie) == {}


def test_back_shows_my_previous_sample_and_a_new_key_changes_its_label(client, project, charlie):
    first, second, third = make_samples(project, ["a", "b", "c"])
    client.force_login(charlie)
    _label(client, project, first, 0)
    response = _label(client, project, second, 0)
    assert _link(response, "ArrowLeft") == second.pk
    assert _link(response, "ArrowRight") is None  # at the queue's head there is no forward
    back = client.get(f"{_url(project)}?sample={second.pk}", **HTMX)
    assert _shown(back) == "b"
    html = back.content.decode()
    assert "you labeled this <strong>HAM</strong>" in html
    assert 'aria-pressed="true"' in html
    assert _link(back, "ArrowLeft") == first.pk
    assert _link(back, "ArrowRight") == 0  # my latest label: forward is the queue
    _label(client, project, second, 1)
    assert _mine(project, charlie) == {"s0": 0, "s1": 1}
    assert Annotation.objects.filter(project=project, annotator=charlie).count() == 2
    assert client.get(_url(project)).context["sample"] == third


def test_back_twice_walks_my_history(client, project, charlie):
    first, second, _ = make_samples(project, ["a", "b", "c"])
    client.force_login(charlie)
    _label(client, project, first, 0)
    _label(client, project, second, 1)
    older = client.get(f"{_url(project)}?sample={first.pk}", **HTMX)
    assert _link(older, "ArrowLeft") is None
    assert _link(older, "ArrowRight") == second.pk


def test_a_refused_label_is_shown_in_place_and_nothing_is_stored(client, project, charlie):
    (sample,) = make_samples(project, ["a"])
    client.force_login(charlie)
    response = _label(client, project, sample, 7)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Not saved: label must be one of HAM, SPAM" in html
    assert _shown(response) == "a"
    assert _mine(project, charlie) == {}


def test_a_sample_of_another_project_is_not_found(client, project, charlie, eve):
    from tests.conftest import make_project

    other = make_project(eve, name="Other")
    (foreign,) = make_samples(other, ["not yours"])
    client.force_login(charlie)
    assert _label(client, project, foreign, 0).status_code == 404
    assert client.get(f"{_url(project)}?sample={foreign.pk}").status_code == 404
    assert not Annotation.objects.filter(sample=foreign).exists()


def test_a_viewer_cannot_post_labels(client, project, dana):
    (sample,) = make_samples(project, ["a"])
    client.force_login(dana)
    assert _label(client, project, sample, 0).status_code == 403
    assert not Annotation.objects.filter(sample=sample, annotator=dana).exists()


def _page_for(client, project, sample):
    html = client.get(f"{_url(project)}?sample={sample.pk}").content.decode()
    return re.sub(r'(csrfmiddlewaretoken" value=|X-CSRFToken": )"[^"]+"', r"\1-", html)


def test_an_annotator_never_sees_gold_other_annotators_or_predictions(client, project, charlie, bob):
    (sample,) = make_samples(project, ["is this spam?"], gold=[0])
    client.force_login(charlie)
    before = _page_for(client, project, sample)
    # The gold label flips and another annotator labels it: charlie's page must not change at all.
    Annotation.objects.filter(sample=sample, source="import").update(label=1)
    sample.gold_label = 1
    sample.save()
    services.annotate(project=project, sample=sample, user=bob, label=1)
    after = _page_for(client, project, sample)
    assert before == after
    assert "gold" not in after.lower()
    assert "bob" not in after
    assert 'aria-pressed="true"' not in after


def test_a_missing_sample_says_so_and_links_to_the_queue(client, project, charlie):
    make_samples(project, ["a"])
    client.force_login(charlie)
    for query in ("sample=999999", "sample=abc", "sample=99999999999999999999999", "id=nope"):
        response = client.get(f"{_url(project)}?{query}")
        assert response.status_code == 404, query
        html = response.content.decode()
        missing = query.split("=", 1)[1]
        assert f"There is no sample <code>{missing}</code> in {project.name}" in html, query
        assert f'href="{_url(project)}">Label the next sample in my queue</a>' in html
        assert "There is no page at" not in html


def test_the_card_shows_the_samples_own_id_and_the_address_takes_it(client, project, charlie):
    s0, s1 = make_samples(project, ["first", "second"])
    client.force_login(charlie)
    response = client.get(f"{_url(project)}?id={s1.external_id}")
    assert response.status_code == 200 and _shown(response) == "second"
    html = response.content.decode()
    assert f'href="{_url(project)}?id={s1.external_id}"' in html and f">{s1.external_id}</a>" in html
    # The database id the page's own links use still opens it.
    assert _shown(client.get(f"{_url(project)}?sample={s1.pk}")) == "second"
