"""Setting up the annotation workflow: the admins' settings page and API, and an annotator's own order."""

from django.urls import reverse

from projects import queue, services
from projects.models import Membership, Project
from tests.conftest import make_samples, token_client


def test_an_admin_sets_overlap_order_blind_and_skip_reasons_on_the_settings_page(client, project, alice):
    client.force_login(alice)
    url = reverse("workflow", args=[project.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"overlap": "3", "queue_order": "random", "skip_reasons": "Not English\n\nEmpty\n"}
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert (project.overlap, project.queue_order, project.blind) == (3, "random", False)
    assert project.skip_reasons == ["Not English", "Empty"]
    html = client.get(url).content.decode()
    assert "Not English\nEmpty\n</textarea>" in html


def test_a_bad_overlap_is_refused_in_place(client, project, alice):
    client.force_login(alice)
    response = client.post(reverse("workflow", args=[project.pk]), {"overlap": "0", "queue_order": "row"})
    assert response.status_code == 422
    assert "Not saved: overlap must be a whole number from 1 to 50" in response.content.decode()
    assert Project.objects.get(pk=project.pk).overlap == 1


def test_only_admins_open_the_settings(client, project, bob, charlie, eve):
    url = reverse("workflow", args=[project.pk])
    for user, code in ((bob, 403), (charlie, 403), (eve, 404)):
        client.force_login(user)
        assert client.get(url).status_code == code
        assert client.post(url, {"overlap": "2", "queue_order": "row"}).status_code == code
    assert Project.objects.get(pk=project.pk).overlap == 1


def test_the_api_changes_the_workflow_settings(project, alice, charlie):
    api = token_client(alice)
    url = reverse("api_project", args=[project.pk])
    answer = api.patch(url, {"overlap": 2, "queue_order": "least_confident", "blind": False}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["overlap"], body["queue_order"], body["blind"]) == (2, "least_confident", False)
    bad = api.patch(url, {"queue_order": "loudest"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "queue_order"
    assert token_client(charlie).patch(url, {"overlap": 5}, format="json").status_code == 403


def test_an_annotator_chooses_their_own_queue_order(client, project, charlie):
    make_samples(project, [f"t{i}" for i in range(20)])
    client.force_login(charlie)
    assert queue.claim_next(project, charlie).row == 0
    response = client.post(reverse("my_queue_order", args=[project.pk]), {"queue_order": "random"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=charlie).queue_order == "random"
    assert queue.order_for(project, charlie) == "random"
    assert 'value="random" selected' in client.get(reverse("label", args=[project.pk])).content.decode()
    services.set_queue_order(project=project, user=charlie, queue_order="")
    assert queue.order_for(project, charlie) == "row"
