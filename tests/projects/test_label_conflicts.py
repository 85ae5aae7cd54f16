"""A stale page or script never replaces a newer label unseen: the label page, the sample page and the API
send the version of the label they showed, a changed label is refused with what it is now (409), and an
explicit "replace it with mine" sends it again against the stored version."""

import re

import pytest
from django.urls import reverse

from projects import services
from projects.models import Annotation, AuditEvent
from tests.conftest import make_samples, token_client

HTMX = {"HTTP_HX_REQUEST": "true"}


def _version_on(html: str) -> str:
    """The version the card's label form sends back (the first form on it)."""
    found = re.search(r'<input type="hidden" name="version" value="([^"]*)">', html)
    assert found, html
    return found.group(1)


def _stored(sample, user):
    return Annotation.objects.filter(sample=sample, annotator=user).values_list("label", "reason").first()


def _open(client, project, sample) -> str:
    response = client.get(reverse("label", args=[project.pk]), {"sample": sample.pk}, **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def test_it_refuses_a_label_from_a_stale_tab_and_replaces_only_when_asked(client, project, charlie):
    (sample,) = make_samples(project, ["win a prize"])
    client.force_login(charlie)
    url = reverse("label", args=[project.pk])
    tab_a = _version_on(_open(client, project, sample))
    tab_b = _version_on(_open(client, project, sample))
    assert tab_a == tab_b == ""  # both tabs showed the sample without my label

    saved = client.post(url, {"sample": sample.pk, "version": tab_a, "label": "1"}, **HTMX)
    assert saved.status_code == 200 and "Saved <strong>SPAM</strong>" in saved.content.decode()

    refused = client.post(url, {"sample": sample.pk, "version": tab_b, "label": "0"}, **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 409
    assert _stored(sample, charlie) == (1, "")  # tab A's label stands
    conflict = re.search(r'data-testid="label-conflict">(.*?)</div>', html, re.S).group(1)
    text = re.sub(r"<[^>]+>", "", conflict)
    assert "It is now SPAM, by charlie at" in text
    assert "Replace it with mine: HAM" in text
    stored = Annotation.objects.get(sample=sample, annotator=charlie)
    assert stored.updated_at.strftime("%Y-%m-%d %H:%M") in text
    # The refused card shows the stored label and carries its version, so what I press next is informed.
    assert "you labeled this <strong>SPAM</strong>" in html
    replace_form = re.search(r'data-testid="label-conflict">.*?<form(.*?)</form>', html, re.S).group(1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', replace_form))
    assert fields["version"] == services.label_version(stored) and fields["label"] == "0"
    assert "csrfmiddlewaretoken" in fields

    replaced = client.post(url, fields, **HTMX)
    assert replaced.status_code == 200 and "Saved <strong>HAM</strong>" in replaced.content.decode()
    assert _stored(sample, charlie) == (0, "")
    # Undo after the replacement puts back the label it replaced, not one from before.
    assert Annotation.objects.get(sample=sample, annotator=charlie).previous == {"label": 1, "reason": ""}
    assert AuditEvent.objects.filter(project=project, action="label.changed").count() == 1


def test_a_stale_skip_is_refused_too_and_its_replacement_keeps_the_reason(client, project, charlie):
    (sample,) = make_samples(project, ["unclear"])
    client.force_login(charlie)
    url = reverse("label", args=[project.pk])
    stale = _version_on(_open(client, project, sample))
    services.annotate(project=project, sample=sample, user=charlie, label=0)
    refused = client.post(
        url, {"sample": sample.pk, "version": stale, "skip": "1", "reason": "no idea"}, **HTMX
    )
    assert refused.status_code == 409 and _stored(sample, charlie) == (0, "")
    html = refused.content.decode()
    assert "Replace it with mine: skip (no idea)" in html
    replace_form = re.search(r'data-testid="label-conflict">.*?<form(.*?)</form>', html, re.S).group(1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', replace_form))
    assert client.post(url, fields, **HTMX).status_code == 200
    assert _stored(sample, charlie) == (None, "no idea")


def test_without_javascript_a_stale_post_gets_the_full_page_with_the_conflict(client, project, charlie):
    (sample,) = make_samples(project, ["plain post"])
    client.force_login(charlie)
    services.annotate(project=project, sample=sample, user=charlie, label=1)
    response = client.post(
        reverse("label", args=[project.pk]), {"sample": sample.pk, "version": "", "label": "0"}
    )
    assert response.status_code == 409
    assert (
        "<html" in response.content.decode() and 'data-testid="label-conflict"' in response.content.decode()
    )
    assert _stored(sample, charlie) == (1, "")


def test_a_label_removed_in_another_tab_is_a_conflict_too(client, project, charlie):
    (sample,) = make_samples(project, ["gone"])
    client.force_login(charlie)
    services.annotate(project=project, sample=sample, user=charlie, label=1)
    seen = _version_on(_open(client, project, sample))
    services.remove_annotation(project=project, sample=sample, user=charlie)
    refused = client.post(
        reverse("label", args=[project.pk]), {"sample": sample.pk, "version": seen, "label": "0"}, **HTMX
    )
    assert refused.status_code == 409 and _stored(sample, charlie) is None
    assert "your label on this sample was removed since this page showed it" in refused.content.decode()


def test_an_outsider_and_a_viewer_cannot_use_the_replace_action(client, project, charlie, dana, eve):
    (sample,) = make_samples(project, ["mine"])
    services.annotate(project=project, sample=sample, user=charlie, label=1)
    version = services.label_version(Annotation.objects.get(sample=sample))
    url = reverse("label", args=[project.pk])
    for user, code in ((eve, 404), (dana, 403)):
        client.force_login(user)
        assert client.post(url, {"sample": sample.pk, "version": version, "label": "0"}).status_code == code
    assert _stored(sample, charlie) == (1, "")


def test_the_sample_page_refuses_a_stale_label_and_offers_to_replace_it(client, project, bob):
    (sample,) = make_samples(project, ["sample page"])
    client.force_login(bob)
    url = reverse("analysis_sample", args=[project.pk, sample.row])
    services.annotate(project=project, sample=sample, user=bob, label=1)
    response = client.post(
        url, {"label": "HAM", "version": ""}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="hand-labels"
    )
    html = response.content.decode()
    assert _stored(sample, bob) == (1, "")
    assert "this sample was labeled SPAM by bob at" in html and "Replace it with mine: HAM" in html
    fresh = _version_on(html)
    assert fresh == services.label_version(Annotation.objects.get(sample=sample, annotator=bob))
    client.post(url, {"label": "HAM", "version": fresh}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="hand-labels")
    assert _stored(sample, bob) == (0, "")


# --- the API ---------------------------------------------------------------------------------------------------


@pytest.fixture
def api(project, charlie):
    return token_client(charlie), reverse("api_project_annotations", args=[project.pk])


def test_the_api_answers_409_naming_the_conflict_and_the_stored_label(project, charlie, api):
    client, url = api
    (sample,) = make_samples(project, ["api"])
    first = client.post(url, {"sample": sample.pk, "label": "SPAM", "version": None}, format="json")
    assert first.status_code == 201
    version = first.json()["version"]
    assert version and first.json()["annotator"] == "charlie"

    stale = client.post(url, {"sample": sample.pk, "label": "HAM", "version": None}, format="json")
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "label_conflict" and body["field"] == "version"
    assert "this sample was labeled SPAM by charlie at" in body["message"]
    assert body["current"]["label"] == "SPAM" and body["current"]["version"] == version
    assert _stored(sample, charlie) == (1, "")

    replaced = client.post(url, {"sample": sample.pk, "label": "HAM", "version": version}, format="json")
    assert replaced.status_code == 201 and replaced.json()["label"] == "HAM"
    assert replaced.json()["version"] != version
    # The old version is stale now in its turn.
    again = client.post(url, {"sample": sample.pk, "label": "SPAM", "version": version}, format="json")
    assert again.status_code == 409 and again.json()["current"]["label"] == "HAM"


def test_the_api_without_a_version_writes_whatever_is_stored_as_documented(client, project, charlie, api):
    api_client, url = api
    (sample,) = make_samples(project, ["script"])
    services.annotate(project=project, sample=sample, user=charlie, label=1)
    answer = api_client.post(url, {"sample": sample.pk, "label": "HAM"}, format="json")
    assert answer.status_code == 201 and _stored(sample, charlie) == (0, "")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    version = schema["components"]["schemas"]["AnnotationInput"]["properties"]["version"]
    assert "Leave the field out to save whatever is stored" in version["description"]
    (post,) = [ops["post"] for path, ops in schema["paths"].items() if path.endswith("/annotations/")]
    assert "409" in post["responses"]


def test_the_api_refuses_an_unknown_version_and_changes_nothing(project, charlie, api):
    client, url = api
    (sample,) = make_samples(project, ["bad version"])
    services.annotate(project=project, sample=sample, user=charlie, label=1)
    answer = client.post(url, {"sample": sample.pk, "label": "HAM", "version": "yesterday"}, format="json")
    assert answer.status_code == 409 and _stored(sample, charlie) == (1, "")


# --- the review page: one adjudication per sample, shared by every reviewer -------------------------------------


def test_a_reviewer_with_a_stale_page_does_not_replace_another_reviewers_decision(client, project, charlie):
    from projects.models import Adjudication
    from tests.conftest import add_member, make_user

    rita, ruth = make_user("rita"), make_user("ruth")
    add_member(project, rita, "reviewer")
    add_member(project, ruth, "reviewer")
    frank = make_user("frank")
    add_member(project, frank, "annotator")
    services.update_workflow(project=project, overlap=2)
    (sample,) = make_samples(project, ["argued about"])
    services.annotate(project=project, sample=sample, user=charlie, label=0)
    sample.refresh_from_db()
    services.annotate(project=project, sample=sample, user=frank, label=1)
    url = reverse("review", args=[project.pk])

    client.force_login(ruth)
    ruths_page = client.get(url, **HTMX).content.decode()
    assert "argued about" in ruths_page and _version_on(ruths_page) == ""
    sample.refresh_from_db()
    services.adjudicate(project=project, sample=sample, user=rita, label=1)

    refused = client.post(url, {"sample": sample.pk, "version": "", "label": "0"}, **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 409
    assert "this sample was adjudicated SPAM by rita at" in html
    assert Adjudication.objects.get(sample=sample).label == 1
    replace_form = re.search(r'data-testid="label-conflict">.*?<form(.*?)</form>', html, re.S).group(1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', replace_form))
    assert fields["label"] == "0"
    assert fields["version"] == services.label_version(Adjudication.objects.get(sample=sample))
    assert client.post(url, fields, **HTMX).status_code == 200
    decided = Adjudication.objects.get(sample=sample)
    assert (decided.label, decided.reviewer) == (0, ruth)
    sample.refresh_from_db()
    assert sample.gold_label == 0


def test_of_eight_requests_that_saw_no_label_at_once_one_saves_and_seven_are_told(transactional_db):
    from tests.conftest import _uses_postgres, add_member, make_project, make_user, need
    from tests.projects.test_queue import THREADS, _in_threads

    need(_uses_postgres(), "PostgreSQL (DATABASE_URL=postgres://…)")
    owner, annotator = make_user("owner"), make_user("annotator")
    project = make_project(owner)
    add_member(project, annotator, "annotator")
    (sample,) = make_samples(project, ["raced"])

    def work(i):
        try:
            services.annotate(project=project, sample=sample, user=annotator, label=i % 2, expected="")
        except services.LabelConflict as exc:
            return ("refused", exc.current.label)
        return ("saved", i % 2)

    results = _in_threads(work)
    saved = [label for kind, label in results if kind == "saved"]
    assert len(saved) == 1 and len(results) == THREADS
    # Everyone refused was told the label that won, and it is the one stored.
    assert {label for kind, label in results if kind == "refused"} == set(saved)
    assert _stored(sample, annotator) == (saved[0], "")
