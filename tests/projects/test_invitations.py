"""Invitations by link or email with a role, and the members API (list, add, change role, remove)."""

import re
from datetime import timedelta

from django.core import mail
from django.urls import reverse
from django.utils import timezone

from projects import invitations
from projects.models import Invitation, Membership
from tests.conftest import make_user, token_client


def _role(project, user):
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def _invite(client, project, role="annotator", email=""):
    response = client.post(reverse("invitations", args=[project.pk]), {"role": role, "email": email})
    assert response.status_code == 302, response.content.decode()
    return Invitation.objects.filter(project=project).latest("id")


# --- invitations in the browser --------------------------------------------------------------------------------


def test_admin_makes_a_link_and_a_signed_in_user_joins_with_its_role(client, project, alice, eve):
    client.force_login(alice)
    invitation = _invite(client, project, role="reviewer")
    page = client.get(reverse("invitations", args=[project.pk])).content.decode()
    link = reverse("invitation_accept", args=[invitation.token])
    assert link in page
    client.force_login(eve)
    assert "Join as reviewer" in client.get(link).content.decode()
    response = client.post(link, {"join": "1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("project_detail", args=[project.pk])
    assert _role(project, eve) == "reviewer"
    invitation.refresh_from_db()
    assert invitation.accepted_by == eve and invitation.accepted_at is not None
    assert "you are a reviewer here" in client.get(response["Location"]).content.decode()


def test_the_welcome_reads_right_for_an_annotator(client, project, alice, eve):
    client.force_login(alice)
    invitation = _invite(client, project, role="annotator")
    client.force_login(eve)
    welcome = client.post(reverse("invitation_accept", args=[invitation.token]), {"join": "1"}, follow=True)
    assert "you are an annotator here" in welcome.content.decode()


def test_a_used_link_is_refused_with_a_clear_message(client, project, alice, eve):
    client.force_login(alice)
    invitation = _invite(client, project)
    link = reverse("invitation_accept", args=[invitation.token])
    client.force_login(eve)
    client.post(link, {"join": "1"})
    other = make_user("frank")
    client.force_login(other)
    response = client.post(link, {"join": "1"})
    assert response.status_code == 410
    assert "already used (by eve)" in response.content.decode()
    assert _role(project, other) is None


def test_an_expired_link_is_refused_with_a_clear_message(client, project, alice, eve):
    client.force_login(alice)
    invitation = _invite(client, project)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(eve)
    link = reverse("invitation_accept", args=[invitation.token])
    response = client.get(link)
    assert response.status_code == 410
    assert "This invitation expired on" in response.content.decode()
    assert client.post(link, {"join": "1"}).status_code == 410
    assert _role(project, eve) is None


def test_a_withdrawn_link_is_refused(client, project, alice, eve):
    client.force_login(alice)
    invitation = _invite(client, project)
    assert client.post(reverse("invitation_revoke", args=[project.pk, invitation.pk])).status_code == 302
    client.force_login(eve)
    response = client.post(reverse("invitation_accept", args=[invitation.token]), {"join": "1"})
    assert response.status_code == 410
    assert "withdrawn" in response.content.decode()
    assert _role(project, eve) is None


def test_an_unknown_link_is_404(client, eve):
    client.force_login(eve)
    assert client.get(reverse("invitation_accept", args=["no-such-token"])).status_code == 404


def test_a_new_person_signs_up_from_the_link_and_is_signed_in_as_member(client, project, alice):
    client.force_login(alice)
    invitation = _invite(client, project, role="annotator")
    client.logout()
    link = reverse("invitation_accept", args=[invitation.token])
    assert "Make my account and join" in client.get(link).content.decode()
    response = client.post(
        link, {"username": "grace", "password": "long-enough-pass-9", "email": "g@example.com"}
    )
    assert response.status_code == 302
    grace = Membership.objects.get(project=project, user__username="grace").user
    assert grace.check_password("long-enough-pass-9") and grace.email == "g@example.com"
    assert _role(project, grace) == "annotator"
    # Signed in: the project is open to them now.
    assert client.get(reverse("project_detail", args=[project.pk])).status_code == 200


def test_sign_up_with_a_weak_password_or_taken_username_changes_nothing(client, project, alice):
    client.force_login(alice)
    invitation = _invite(client, project)
    client.logout()
    link = reverse("invitation_accept", args=[invitation.token])
    weak = client.post(link, {"username": "grace", "password": "123"})
    assert weak.status_code == 422
    assert "too short" in weak.content.decode()
    assert f'href="{reverse("login")}?next={link}"' in weak.content.decode()  # signing in is still offered
    taken = client.post(link, {"username": "bob", "password": "long-enough-pass-9"})
    assert taken.status_code == 422
    assert "is taken" in taken.content.decode()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None
    assert not Membership.objects.filter(project=project, user__username="grace").exists()


def test_an_email_invitation_is_sent_and_only_that_email_can_take_it(
    client, project, alice, eve, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        invitation = _invite(client, project, email="eve@example.com")
    assert mail.outbox[0].to == ["eve@example.com"]
    path = re.search(r"https?://[^/]+(/invitations/[^\s]+/)", mail.outbox[0].body)[1]
    assert path == reverse("invitation_accept", args=[invitation.token])
    stranger = make_user("mallory")
    client.force_login(stranger)
    refused = client.post(path, {"join": "1"})
    assert refused.status_code == 422
    assert "This invitation is for eve@example.com" in refused.content.decode()
    client.force_login(eve)
    assert client.post(path, {"join": "1"}).status_code == 302
    assert _role(project, eve) == "annotator"


def test_inviting_a_bad_email_says_so_in_place(client, project, alice):
    client.force_login(alice)
    response = client.post(
        reverse("invitations", args=[project.pk]), {"role": "viewer", "email": "not-an-email"}
    )
    assert response.status_code == 422
    assert "is not an email address" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_member_cannot_join_again_through_a_link(client, project, alice, charlie):
    client.force_login(alice)
    invitation = _invite(client, project, role="admin")
    client.force_login(charlie)
    response = client.post(reverse("invitation_accept", args=[invitation.token]), {"join": "1"})
    assert response.status_code == 422
    assert "already" in response.content.decode()
    assert _role(project, charlie) == "annotator"


def test_only_admins_invite(client, project, bob, eve):
    client.force_login(bob)
    assert client.post(reverse("invitations", args=[project.pk]), {"role": "admin"}).status_code == 403
    client.force_login(eve)
    assert client.post(reverse("invitations", args=[project.pk]), {"role": "admin"}).status_code == 404
    assert not Invitation.objects.exists()


def test_members_page_offers_the_invite_form(client, project, alice):
    client.force_login(alice)
    html = client.get(reverse("members", args=[project.pk])).content.decode()
    assert f'action="{reverse("invitations", args=[project.pk])}"' in html


def test_refusal_names_each_reason(project, alice):
    invitation = invitations.create_invitation(project=project, by=alice, role="viewer")
    assert invitations.refusal(invitation) is None
    assert "not valid" in invitations.refusal(None)


# --- the members API -----------------------------------------------------------------------------------------


def test_api_lists_members_with_roles(project, alice):
    response = token_client(alice).get(f"/api/projects/{project.pk}/members/")
    assert response.status_code == 200
    assert {(m["username"], m["role"]) for m in response.json()} == {
        ("alice", "admin"),
        ("bob", "developer"),
        ("charlie", "annotator"),
        ("dana", "viewer"),
    }


def test_api_adds_a_member_by_username_or_email(project, alice, eve):
    api = token_client(alice)
    response = api.post(
        f"/api/projects/{project.pk}/members/", {"username": "eve", "role": "reviewer"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["role"] == "reviewer"
    make_user("frank")
    response = api.post(
        f"/api/projects/{project.pk}/members/",
        {"email": "FRANK@example.com", "role": "viewer"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["username"] == "frank"


def test_api_refuses_unknown_people_roles_and_members_twice(project, alice):
    api = token_client(alice)
    url = f"/api/projects/{project.pk}/members/"
    unknown = api.post(url, {"username": "nobody", "role": "viewer"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["field"] == "username"
    bad_role = api.post(url, {"username": "bob", "role": "owner"}, format="json")
    assert bad_role.status_code == 400 and bad_role.json()["field"] == "role"
    twice = api.post(url, {"username": "bob", "role": "viewer"}, format="json")
    assert twice.status_code == 400 and "a member already" in twice.json()["message"]


def test_api_changes_a_role_and_removes_a_member(project, alice, charlie, dana):
    api = token_client(alice)
    charlie_id = Membership.objects.get(project=project, user=charlie).pk
    response = api.patch(f"/api/members/{charlie_id}/", {"role": "reviewer"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "reviewer"
    assert _role(project, charlie) == "reviewer"
    dana_id = Membership.objects.get(project=project, user=dana).pk
    assert api.delete(f"/api/members/{dana_id}/").status_code == 204
    assert _role(project, dana) is None


def test_api_keeps_at_least_one_admin(project, alice):
    api = token_client(alice)
    alice_id = Membership.objects.get(project=project, user=alice).pk
    step_down = api.patch(f"/api/members/{alice_id}/", {"role": "viewer"}, format="json")
    assert step_down.status_code == 400 and "at least one admin" in step_down.json()["message"]
    assert api.delete(f"/api/members/{alice_id}/").status_code == 400
    assert _role(project, alice) == "admin"


def test_api_members_are_for_admins_and_private_to_outsiders(project, bob, eve, charlie):
    charlie_id = Membership.objects.get(project=project, user=charlie).pk
    assert token_client(bob).get(f"/api/projects/{project.pk}/members/").status_code == 403
    assert (
        token_client(bob).patch(f"/api/members/{charlie_id}/", {"role": "admin"}, format="json").status_code
        == 403
    )
    assert token_client(eve).get(f"/api/projects/{project.pk}/members/").status_code == 404
    assert token_client(eve).delete(f"/api/members/{charlie_id}/").status_code == 404
    assert token_client(eve).delete("/api/members/999999/").status_code == 404
    assert _role(project, charlie) == "annotator"


def test_a_mail_server_that_fails_keeps_the_invitation_and_its_link(
    client, project, alice, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr(invitations, "send_mail", refuse)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        invitation = _invite(client, project, email="new@example.com")
    page = client.get(reverse("invitations", args=[project.pk])).content.decode()
    assert reverse("invitation_accept", args=[invitation.token]) in page


# --- the invitations API ----------------------------------------------------------------------------------------


def test_api_makes_a_link_invitation_that_joins_its_holder(client, project, alice, eve):
    response = token_client(alice).post(
        f"/api/projects/{project.pk}/invitations/", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "viewer" and body["email"] == "" and body["created_by"] == "alice"
    path = re.search(r"https?://[^/]+(/invitations/[^/]+/)", body["link"])[1]
    client.force_login(eve)
    assert client.post(path, {"join": "1"}).status_code == 302
    assert _role(project, eve) == "viewer"


def test_api_lists_waiting_invitations_and_withdraws_one(project, alice, eve):
    api = token_client(alice)
    made = api.post(
        f"/api/projects/{project.pk}/invitations/",
        {"role": "annotator", "email": "x@example.com"},
        format="json",
    ).json()
    assert [i["id"] for i in api.get(f"/api/projects/{project.pk}/invitations/").json()] == [made["id"]]
    assert token_client(eve).delete(f"/api/invitations/{made['id']}/").status_code == 404
    assert api.delete(f"/api/invitations/{made['id']}/").status_code == 204
    assert api.get(f"/api/projects/{project.pk}/invitations/").json() == []
    assert invitations.refusal(Invitation.objects.get(pk=made["id"])).startswith(
        "This invitation was withdrawn"
    )


def test_api_invitation_with_a_bad_email_names_the_field(project, alice):
    response = token_client(alice).post(
        f"/api/projects/{project.pk}/invitations/", {"role": "viewer", "email": "nope"}, format="json"
    )
    assert response.status_code == 400 and response.json()["field"] == "email"
