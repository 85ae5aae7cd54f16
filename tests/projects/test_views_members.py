"""The members page: admins add people by username, change roles, remove them; a project keeps an admin."""

from django.urls import reverse

from projects.models import Membership
from tests.conftest import make_user


def _role(project, user):
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def test_members_page_lists_members_with_their_roles(client, project, alice):
    client.force_login(alice)
    html = client.get(reverse("members", args=[project.pk])).content.decode()
    for name in ("alice", "bob", "charlie", "dana"):
        assert f'aria-label="Role of {name}"' in html
    assert '<option value="annotator" selected>Annotator</option>' in html


def test_admin_adds_an_existing_user_with_a_role(client, project, alice, eve):
    client.force_login(alice)
    response = client.post(reverse("members", args=[project.pk]), {"username": "eve", "role": "reviewer"})
    assert response.status_code == 302
    assert _role(project, eve) == "reviewer"
    assert "Added eve as reviewer." in client.get(reverse("members", args=[project.pk])).content.decode()


def test_adding_an_unknown_username_says_so_in_place(client, project, alice):
    client.force_login(alice)
    response = client.post(reverse("members", args=[project.pk]), {"username": "nobody", "role": "viewer"})
    assert response.status_code == 422
    assert "There is no user called &#x27;nobody&#x27;" in response.content.decode()


def test_adding_a_member_twice_points_to_the_role_list(client, project, alice):
    client.force_login(alice)
    response = client.post(reverse("members", args=[project.pk]), {"username": "bob", "role": "viewer"})
    assert response.status_code == 422
    assert "bob is already a member" in response.content.decode()


def test_admin_changes_a_role(client, project, alice, charlie):
    client.force_login(alice)
    response = client.post(reverse("member_update", args=[project.pk, charlie.pk]), {"role": "developer"})
    assert response.status_code == 302
    assert _role(project, charlie) == "developer"


def test_admin_removes_a_member_who_then_is_an_outsider(client, project, alice, dana):
    client.force_login(alice)
    client.post(reverse("member_update", args=[project.pk, dana.pk]), {"remove": "1"})
    assert _role(project, dana) is None
    client.force_login(dana)
    assert client.get(reverse("project_detail", args=[project.pk])).status_code == 404


def test_the_last_admin_cannot_leave_or_step_down(client, project, alice):
    client.force_login(alice)
    client.post(reverse("member_update", args=[project.pk, alice.pk]), {"role": "viewer"})
    client.post(reverse("member_update", args=[project.pk, alice.pk]), {"remove": "1"})
    assert _role(project, alice) == "admin"
    html = client.get(reverse("members", args=[project.pk])).content.decode()
    assert "the project needs at least one admin" in html.lower()


def test_an_admin_who_steps_down_goes_to_the_overview(client, project, alice, bob):
    client.force_login(alice)
    client.post(reverse("member_update", args=[project.pk, bob.pk]), {"role": "admin"})
    response = client.post(reverse("member_update", args=[project.pk, alice.pk]), {"role": "developer"})
    assert _role(project, alice) == "developer"
    assert response["Location"] == reverse("project_detail", args=[project.pk])


def test_only_admins_change_members(client, project, bob, charlie):
    intruder = make_user("mallory")
    client.force_login(bob)
    assert (
        client.post(
            reverse("members", args=[project.pk]), {"username": "mallory", "role": "admin"}
        ).status_code
        == 403
    )
    assert (
        client.post(reverse("member_update", args=[project.pk, charlie.pk]), {"remove": "1"}).status_code
        == 403
    )
    assert _role(project, intruder) is None and _role(project, charlie) == "annotator"


def test_outsiders_get_404_for_member_changes(client, project, eve, charlie):
    client.force_login(eve)
    assert (
        client.post(reverse("member_update", args=[project.pk, charlie.pk]), {"remove": "1"}).status_code
        == 404
    )
    assert _role(project, charlie) == "annotator"


def test_an_admin_who_leaves_goes_to_their_project_list(client, project, alice, bob):
    client.force_login(alice)
    client.post(reverse("member_update", args=[project.pk, bob.pk]), {"role": "admin"})
    response = client.post(reverse("member_update", args=[project.pk, alice.pk]), {"remove": "1"})
    assert _role(project, alice) is None
    assert response["Location"] == reverse("project_list")
