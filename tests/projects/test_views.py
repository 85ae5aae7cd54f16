"""The projects pages: who may open what (outsiders 404, other roles 403), the list, creating, the overview."""

import pytest
from django.urls import reverse

from projects.models import Membership, Project
from tests.conftest import add_member, make_project, make_samples

PAGES = {
    # url name: roles allowed (alice=admin, bob=developer, charlie=annotator, dana=viewer)
    "project_detail": {"alice", "bob", "charlie", "dana"},
    "label": {"alice", "bob", "charlie"},
    "import_samples": {"alice", "bob"},
    "members": {"alice"},
}


def _get(client, user, url, **extra):
    client.force_login(user)
    return client.get(url, **extra)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_pages_render_for_allowed_roles_and_refuse_others(client, project, alice, bob, charlie, dana, name):
    url = reverse(name, args=[project.pk])
    for user in (alice, bob, charlie, dana):
        response = _get(client, user, url)
        expected = 200 if user.username in PAGES[name] else 403
        assert response.status_code == expected, (user.username, name)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_outsider_gets_404_for_every_project_page(client, project, eve, name):
    response = _get(client, eve, reverse(name, args=[project.pk]))
    assert response.status_code == 404


def test_outsider_gets_404_for_htmx_fragments_too(client, project, eve, alice):
    make_samples(project, ["hello"])
    job = project.imports.create(created_by=alice, filename="a.csv", options={"text_field": "text"})
    for url in (reverse("label", args=[project.pk]), reverse("import_job", args=[project.pk, job.pk])):
        assert _get(client, eve, url, HTTP_HX_REQUEST="true").status_code == 404


def test_viewer_gets_403_for_the_label_fragment(client, project, dana):
    response = _get(client, dana, reverse("label", args=[project.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, project):
    for url in (reverse("project_list"), reverse("project_detail", args=[project.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_project_list_shows_my_projects_with_role_and_counts(client, project, charlie, alice):
    other = make_project(alice, name="Not for charlie")
    make_samples(project, ["a", "b", "c"], gold=[0, None, 1])
    response = _get(client, charlie, reverse("project_list"))
    html = response.content.decode()
    assert response.status_code == 200
    assert project.name in html and other.name not in html
    row = response.context["projects"][0]
    assert (row.role, row.sample_count, row.hand_labeled, row.my_labeled) == ("annotator", 3, 2, 0)
    assert "Annotator" in html


def test_project_list_empty_state_says_what_to_do(client, eve):
    html = _get(client, eve, reverse("project_list")).content.decode()
    assert "not in any project yet" in html
    assert reverse("project_create") in html


def test_the_new_project_form_says_classes_are_added_in_the_settings(client, eve):
    html = _get(client, eve, reverse("project_create")).content.decode()
    assert "new ones added at the end there too" in html and "PATCH" not in html


def test_creating_a_project_makes_me_its_admin(client, eve):
    client.force_login(eve)
    response = client.post(
        reverse("project_create"),
        {
            "name": "Reviews",
            "description": "Product reviews",
            "labels": "NEG, POS\nNEUTRAL",
            "instructions": "Be kind.",
        },
    )
    project = Project.objects.get(name="Reviews")
    assert response.status_code == 302 and response["Location"] == reverse(
        "project_detail", args=[project.pk]
    )
    assert project.labels == ["NEG", "POS", "NEUTRAL"]
    assert project.instructions == "Be kind."
    assert Membership.objects.get(project=project, user=eve).role == "admin"


def test_create_project_shows_the_service_error_in_place(client, eve):
    client.force_login(eve)
    response = client.post(reverse("project_create"), {"name": "One class", "labels": "ONLY"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "a project needs at least two classes" in html
    assert 'id="labels-error"' in html
    assert 'value="One class"' in html  # what was typed stays
    assert not Project.objects.filter(name="One class").exists()


def test_create_project_without_a_name_says_so(client, eve):
    client.force_login(eve)
    response = client.post(reverse("project_create"), {"name": " ", "labels": "A\nB"})
    assert response.status_code == 422
    assert "the project needs a name" in response.content.decode()


def test_overview_shows_splits_gold_distribution_and_my_progress(client, project, alice):
    make_samples(
        project, ["a", "b", "c", "d"], splits=["train", "train", "dev", "test"], gold=[0, 1, 1, None]
    )
    response = _get(client, alice, reverse("project_detail", args=[project.pk]))
    summary = response.context["summary"]
    assert summary["by_split"] == {"train": 2, "dev": 1, "test": 1}
    assert summary["gold_distribution"] == {"HAM": 1, "SPAM": 2}
    html = response.content.decode()
    assert "Start labeling" in html and reverse("label", args=[project.pk]) in html
    assert "of 4 samples labeled" in html


def test_overview_for_an_annotator_shows_their_queue_not_the_gold_labels(client, project, charlie):
    make_samples(project, ["a", "b"], gold=[0, 1])
    response = _get(client, charlie, reverse("project_detail", args=[project.pk]))
    assert "summary" not in response.context
    assert "Gold label distribution" not in response.content.decode()
    assert "Start labeling" in response.content.decode()


def test_overview_for_a_viewer_has_no_start_labeling(client, project, dana):
    html = _get(client, dana, reverse("project_detail", args=[project.pk])).content.decode()
    assert "Start labeling" not in html


def test_overview_without_samples_points_to_import(client, project, bob):
    html = _get(client, bob, reverse("project_detail", args=[project.pk])).content.decode()
    assert "no samples yet" in html
    assert reverse("import_samples", args=[project.pk]) in html


def test_nav_shows_only_the_sections_my_role_may_open(client, project, charlie, alice):
    charlie_nav = _get(client, charlie, reverse("project_detail", args=[project.pk])).context["nav"]
    assert [item["title"] for item in charlie_nav] == ["Overview", "Label"]
    alice_nav = _get(client, alice, reverse("project_detail", args=[project.pk])).context["nav"]
    titles = [item["title"] for item in alice_nav]
    assert {"Overview", "Label", "Import", "Members"} <= set(titles)
    assert [item["title"] for item in alice_nav if item["current"]] == ["Overview"]


def test_nav_skips_labeling_pages_that_do_not_exist(rf, project, alice, monkeypatch):
    from projects import navigation

    monkeypatch.setattr(
        navigation, "SECTIONS", [*navigation.SECTIONS, ("no_such_page", "Nowhere", "view_project")]
    )
    request = rf.get("/")
    request.user = alice
    titles = [item["title"] for item in navigation.nav_for(request, project, "project_detail")]
    assert "Nowhere" not in titles and "Overview" in titles


def test_a_member_of_another_project_is_an_outsider_here(client, project, eve, alice):
    theirs = make_project(eve, name="Eve's")
    add_member(theirs, alice, "viewer")
    assert _get(client, eve, reverse("project_detail", args=[project.pk])).status_code == 404
    assert _get(client, alice, reverse("members", args=[theirs.pk])).status_code == 403


def test_overview_loads_the_latest_run_for_roles_that_see_dashboards(client, project, dana, charlie):
    run_status = reverse("run_status", args=[project.pk])
    html = _get(client, dana, reverse("project_detail", args=[project.pk])).content.decode()
    assert f'hx-get="{run_status}"' in html and f'href="{run_status}"' in html
    html = _get(client, charlie, reverse("project_detail", args=[project.pk])).content.decode()
    assert run_status not in html
