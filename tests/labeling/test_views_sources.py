"""The studio's editors for the kinds whose votes come from elsewhere: a legacy model's predictions (pasted)
and an external service (its address), with their previews."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from labeling.models import LabelingFunction
from tests.conftest import make_samples
from tests.labeling.test_lf_kinds import model_server  # noqa: F401 - the fixture

TEXTS = ["buy now", "hello", "buy cheap pills", "nice song"]
HTMX = {"HTTP_HX_REQUEST": "true"}


def _preview(client, project, **params):
    return client.get(reverse("lf_preview", args=[project.pk]), params, **HTMX)


def _stored_predictions() -> list[Path]:
    return sorted((Path(settings.MEDIA_ROOT) / "predictions").glob("*"))


def test_pasted_predictions_are_previewed_without_storing_anything(client, project, bob):
    make_samples(project, TEXTS)
    client.force_login(bob)
    before = _stored_predictions()
    response = _preview(
        client, project, kind="predictions", predictions="id,label,score\ns0,SPAM,0.9\ns1,HAM\nnope,HAM"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "votes on 2 of 4 samples" in html
    assert "1 prediction names an id no sample has" in html
    assert "votes <strong>SPAM</strong>" in html
    assert _stored_predictions() == before


def test_a_pasted_line_without_a_score_still_votes_under_a_lowest_score(client, project, bob):
    make_samples(project, TEXTS)
    client.force_login(bob)
    response = _preview(
        client, project, kind="predictions", predictions="s0,SPAM,0.9\ns1,HAM,0.2\ns2,HAM", min_score="0.5"
    )
    # s1 is scored below 0.5 and abstains; s2 has no score and votes, as the form's help says.
    assert "votes on 2 of 4 samples" in response.content.decode()
    page = client.get(reverse("lf_studio", args=[project.pk])).content.decode()
    assert "a prediction scored below it abstains, one given without a score still votes" in page


def test_a_bad_pasted_line_is_named_and_nothing_is_saved(client, project, bob):
    make_samples(project, TEXTS)
    client.force_login(bob)
    bad = _preview(client, project, kind="predictions", predictions="s0,SPAM,high")
    assert "predictions line 1: the score &#x27;high&#x27; is not a number" in bad.content.decode()
    saved = client.post(
        reverse("lf_studio", args=[project.pk]),
        {"name": "legacy", "kind": "predictions", "predictions": "s0"},
    )
    assert saved.status_code == 422
    assert "predictions line 1: give the sample id and the label" in saved.content.decode()
    empty = client.post(reverse("lf_studio", args=[project.pk]), {"name": "legacy", "kind": "predictions"})
    assert "paste the predictions" in empty.content.decode()
    assert not LabelingFunction.objects.filter(project=project).exists()


def test_predictions_saved_in_the_studio_are_kept_when_the_lf_is_edited(client, project, bob):
    make_samples(project, TEXTS)
    client.force_login(bob)
    response = client.post(
        reverse("lf_studio", args=[project.pk]),
        {
            "name": "legacy",
            "kind": "predictions",
            "predictions": "s0,SPAM,0.9\ns1,HAM,0.4\nnope,HAM",
            "min_score": "0.5",
        },
    )
    assert response.status_code == 302
    lf = LabelingFunction.objects.get(project=project, name="legacy")
    config = lf.current.config
    assert (config["count"], config["unmatched"], config["min_score"]) == (3, 1, 0.5)
    page = client.get(reverse("lf_edit", args=[project.pk, lf.pk])).content.decode()
    assert "3 predictions are stored; paste new ones to replace them" in page
    # Renamed, nothing pasted: the same version, the same stored predictions.
    client.post(reverse("lf_edit", args=[project.pk, lf.pk]), {"name": "legacy model", "kind": "predictions"})
    lf.refresh_from_db()
    assert (lf.name, lf.current.number, lf.current.config["file"]) == ("legacy model", 1, config["file"])


def test_a_service_lf_is_previewed_by_asking_it_and_saved_from_the_studio(client, project, bob, model_server):  # noqa: F811
    server = model_server()
    make_samples(project, TEXTS)
    client.force_login(bob)
    html = _preview(
        client, project, kind="service", url=server.url, batch_size="2", timeout="5", max_retries="0"
    ).content.decode()
    assert "votes on 2 of 4 samples" in html and "votes <strong>SPAM</strong>" in html
    assert server.batches == [["buy now", "hello"], ["buy cheap pills", "nice song"]]
    refused = _preview(client, project, kind="service", url="http://example.com/label").content.decode()
    assert "CHORUS_SERVICE_HOSTS" in refused or "not allowed" in refused
    response = client.post(
        reverse("lf_studio", args=[project.pk]),
        {
            "name": "model",
            "kind": "service",
            "url": server.url,
            "batch_size": "2",
            "timeout": "5",
            "max_retries": "1",
        },
    )
    assert response.status_code == 302
    lf = LabelingFunction.objects.get(project=project, name="model")
    assert lf.current.config == {"url": server.url, "batch_size": 2, "timeout": 5.0, "max_retries": 1}
    page = client.get(reverse("lf_edit", args=[project.pk, lf.pk])).content.decode()
    assert f'value="{server.url}"' in page
