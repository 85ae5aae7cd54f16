"""A field rule on a field no sample of the project has: the preview says so and lists the fields the samples
do have, and saving it (API or studio) is refused with the same message, changing nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labeling.models import LabelingFunction
from projects.models import Sample
from tests.conftest import make_samples, token_client

MISSING = (
    "no sample in this project has the field 'stars'; the samples' fields are: text, author, country, likes"
)
RULE = {
    "name": "rated",
    "kind": "field",
    "label": "HAM",
    "config": {"field": "stars", "op": "gt", "value": 3},
}


@pytest.fixture
def samples(project):
    """Four samples; their fields differ (one import may add a field the others lack)."""
    made = make_samples(project, ["great song", "check my channel", "nice", "buy now"])
    for sample, fields in zip(
        made,
        [{"likes": "40", "author": "ann"}, {"likes": "2"}, {}, {"country": "US", "likes": "12"}],
        strict=True,
    ):
        Sample.objects.filter(pk=sample.pk).update(fields=fields)
    return made


def test_the_api_preview_of_a_rule_on_a_missing_field_names_the_fields_there_are(project, bob, samples):
    client = token_client(bob)
    url = f"/api/projects/{project.pk}/lfs/preview/"
    response = client.post(url, {k: RULE[k] for k in ("kind", "label", "config")}, format="json")
    assert response.status_code == 400
    assert response.json() == {"message": MISSING, "field": "config"}
    # A field only one sample has is there; the rule previews as usual.
    there = {"kind": "field", "label": "HAM", "config": {"field": "country", "op": "equals", "value": "US"}}
    body = client.post(url, there, format="json").json()
    assert (body["hits"], body["n"]) == (1, 4)


def test_the_api_refuses_to_save_or_edit_a_rule_on_a_missing_field_and_changes_nothing(project, bob, samples):
    client = token_client(bob)
    response = client.post(f"/api/projects/{project.pk}/lfs/", RULE, format="json")
    assert response.status_code == 400
    assert response.json() == {"message": MISSING, "field": "config"}
    assert not LabelingFunction.objects.exists()

    saved = client.post(
        f"/api/projects/{project.pk}/lfs/",
        {**RULE, "config": {"field": "likes", "op": "gt", "value": 10}},
        format="json",
    )
    assert saved.status_code == 201, saved.json()
    lf = LabelingFunction.objects.get()
    edit = client.patch(f"/api/lfs/{lf.pk}/", {"config": RULE["config"]}, format="json")
    assert edit.status_code == 400 and edit.json()["message"] == MISSING
    lf.refresh_from_db()
    assert lf.versions.count() == 1 and lf.current.config["field"] == "likes"


def test_the_message_lists_at_most_twenty_fields(project, bob):
    (sample,) = make_samples(project, ["one"])
    Sample.objects.filter(pk=sample.pk).update(fields={f"f{i:02d}": "x" for i in range(30)})
    response = token_client(bob).post(f"/api/projects/{project.pk}/lfs/", RULE, format="json")
    listed = ", ".join(["text", *[f"f{i:02d}" for i in range(19)]])
    assert response.json()["message"] == (
        f"no sample in this project has the field 'stars'; the samples' fields are: {listed} and 11 more"
    )


def test_a_project_without_samples_says_so(project, bob):
    response = token_client(bob).post(f"/api/projects/{project.pk}/lfs/", RULE, format="json")
    assert response.status_code == 400
    assert "it has no samples yet" in response.json()["message"]
    text_rule = {**RULE, "config": {"field": "text", "op": "word_count_lt", "value": 3}}
    assert (
        token_client(bob).post(f"/api/projects/{project.pk}/lfs/", text_rule, format="json").status_code
        == 201
    )


def test_the_studio_preview_and_save_refuse_a_missing_field(client, project, bob, samples):
    client.force_login(bob)
    form = {"name": "rated", "kind": "field", "field": "stars", "op": "gt", "value": "3", "label": "HAM"}
    html = client.get(reverse("lf_preview", args=[project.pk]), form, HTTP_HX_REQUEST="true").content.decode()
    assert '<p class="error" role="alert">' in html
    assert MISSING.replace("'", "&#x27;") in html
    response = client.post(reverse("lf_studio", args=[project.pk]), form)
    assert response.status_code == 422
    page = response.content.decode()
    assert MISSING.replace("'", "&#x27;") in page
    assert '<option value="country">' in page  # the field list offers every sample's fields
    assert not LabelingFunction.objects.exists()
