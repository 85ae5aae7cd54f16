"""Who sees the gold checks: those who see the quality table measured on them (admins and reviewers) read the
page, its htmx rows and the API; only admins mark and unmark; everyone else is refused, outsiders with 404."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from projects import checks
from projects.models import Sample
from tests.conftest import add_member, make_samples, make_user, token_client

# persona -> (GET answer, write answer)
ANSWERS = {
    "alice": (200, None),  # admin: reads and writes (the writes are tested below)
    "bob": (403, 403),  # developer
    "rita": (200, 403),  # reviewer: reads, may not mark or unmark
    "charlie": (403, 403),  # annotator: checks are unannounced to annotators
    "dana": (403, 403),  # viewer
    "eve": (404, 404),  # outsider: the project's existence is private
}


@pytest.fixture
def world(project, alice, eve):
    rita = make_user("rita")
    add_member(project, rita, "reviewer")
    samples = make_samples(project, ["check my channel", "great song", "nice"], gold=[1, 0, None])
    checks.mark_checks(project=project, items=[(samples[0], None), (samples[1], None)], by=alice)
    users = {u.username: u for u in get_user_model().objects.filter(username__in=ANSWERS)}
    return {"project": project, "samples": samples, "users": users}


def _checked_rows(project) -> list[int]:
    return list(
        Sample.objects.filter(project=project, check_label__isnull=False)
        .order_by("row")
        .values_list("row", flat=True)
    )


@pytest.mark.parametrize("persona", list(ANSWERS))
def test_each_role_gets_the_checks_page_and_its_rows_as_the_rules_say(client, world, persona):
    project = world["project"]
    client.force_login(world["users"][persona])
    url = reverse("gold_checks", args=[project.pk])
    want, _ = ANSWERS[persona]
    page = client.get(url)
    rows = client.get(url, {"after": -1}, HTTP_HX_REQUEST="true")
    assert (page.status_code, rows.status_code) == (want, want)
    if want != 200:
        return
    html = page.content.decode()
    assert "2 gold checks" in html and "check my channel" in html
    fragment = rows.content.decode()
    assert "<html" not in fragment and '<th scope="row">s0</th>' in fragment and "<td>SPAM</td>" in fragment
    # Admins get the marking form and the unmark buttons; a reviewer reads only.
    admin = persona == "alice"
    assert ('id="mark-checks"' in html) is admin
    assert ('name="unmark"' in html) is admin and ('name="unmark"' in fragment) is admin


@pytest.mark.parametrize("persona", [p for p in ANSWERS if p != "alice"])
def test_roles_other_than_admin_cannot_mark_or_unmark_on_the_page(client, world, persona):
    project, samples = world["project"], world["samples"]
    client.force_login(world["users"][persona])
    url = reverse("gold_checks", args=[project.pk])
    _, want = ANSWERS[persona]
    assert client.post(url, {"samples": "s2, HAM"}).status_code == want
    assert client.post(url, {"unmark": "1", "sample": samples[0].pk}).status_code == want
    assert _checked_rows(project) == [0, 1]


@pytest.mark.parametrize("persona", list(ANSWERS))
def test_each_role_gets_the_checks_api_as_the_rules_say(world, persona):
    project, samples = world["project"], world["samples"]
    api = token_client(world["users"][persona])
    want, refused = ANSWERS[persona]
    listed = api.get(reverse("api_project_checks", args=[project.pk]))
    one = api.get(reverse("api_project_check", args=[project.pk, samples[0].pk]))
    assert (listed.status_code, one.status_code) == (want, want)
    if want == 200:
        assert [(c["external_id"], c["label"]) for c in listed.json()["results"]] == [
            ("s0", "SPAM"),
            ("s1", "HAM"),
        ]
        assert one.json()["label"] == "SPAM"
    if refused is None:
        return
    marked = api.post(
        reverse("api_project_checks", args=[project.pk]),
        {"samples": [{"sample": "s2", "label": "HAM"}]},
        format="json",
    )
    unmarked = api.delete(reverse("api_project_check", args=[project.pk, samples[0].pk]))
    assert (marked.status_code, unmarked.status_code) == (refused, refused)
    assert _checked_rows(project) == [0, 1]


def test_the_admin_still_marks_and_unmarks(client, world, alice):
    project, samples = world["project"], world["samples"]
    client.force_login(alice)
    url = reverse("gold_checks", args=[project.pk])
    assert client.post(url, {"samples": "s2, HAM"}).status_code == 302
    assert client.post(url, {"unmark": "1", "sample": samples[0].pk}).status_code == 302
    assert _checked_rows(project) == [1, 2]
    api = token_client(alice)
    assert api.delete(reverse("api_project_check", args=[project.pk, samples[1].pk])).status_code == 204
    assert _checked_rows(project) == [2]


def test_the_agreement_page_links_a_reviewer_to_the_checks(client, world):
    project = world["project"]
    checks_url = reverse("gold_checks", args=[project.pk])
    client.force_login(world["users"]["rita"])
    html = client.get(reverse("agreement", args=[project.pk])).content.decode()
    assert checks_url in html and reverse("workflow", args=[project.pk]) not in html
    client.force_login(world["users"]["bob"])
    assert checks_url not in client.get(reverse("agreement", args=[project.pk])).content.decode()


def test_more_checks_come_as_htmx_rows_after_the_last_one_shown(client, world, alice, monkeypatch):
    from projects import quality_views

    monkeypatch.setattr(quality_views, "CHECKS_PER_PAGE", 1)
    project = world["project"]
    client.force_login(world["users"]["rita"])
    url = reverse("gold_checks", args=[project.pk])
    html = client.get(url).content.decode()
    assert '<th scope="row">s0</th>' in html and '<th scope="row">s1</th>' not in html
    assert f'hx-get="{url}?after=0"' in html
    rows = client.get(url, {"after": 0}, HTTP_HX_REQUEST="true").content.decode()
    assert '<th scope="row">s1</th>' in rows and '<th scope="row">s0</th>' not in rows
    assert "More checks" not in rows
