"""REST endpoints for a project's members and invitations (admins): list and add members, change a role,
remove; list, make and withdraw invitations.

/api/projects/{id}/members/ and /api/members/{id}/ (the membership's id). Outsiders get 404, members who
are not admins 403, like the members page. A project always keeps an admin (projects.services says so).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from . import invitations, services
from .models import Invitation, Membership, Role
from .permissions import check, project_for, role_of
from .services import ServiceError


class MemberOutput(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.CharField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]


class MemberInput(serializers.Serializer):
    username = serializers.CharField(required=False, allow_blank=True, default="")
    email = serializers.CharField(required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices)


class RoleInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


def _user_named(username: str, email: str):
    User = get_user_model()
    if username:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise ServiceError(
                f"there is no user called {username!r}; invite them by email instead", "username"
            )
        return user
    if not email:
        raise ServiceError("give the username or the email of the person to add", "username")
    found = list(User.objects.filter(email__iexact=email)[:2])
    if not found:
        raise ServiceError(f"there is no account with the email {email}; send an invitation instead", "email")
    if len(found) > 1:
        raise ServiceError(f"several accounts have the email {email}; add them by username", "email")
    return found[0]


class MemberListApi(APIView):
    @extend_schema(
        responses=MemberOutput(many=True), summary="The project's members and their roles (admins)"
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "manage_project")
        members = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
        return Response(MemberOutput(members, many=True).data)

    @extend_schema(
        request=MemberInput,
        responses={201: MemberOutput},
        summary="Add an existing user by username or email with a role (admins)",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "manage_project")
        serializer = MemberInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = _user_named(data["username"].strip(), data["email"].strip())
        current = Membership.objects.filter(project=project, user=user).first()
        if current is not None:
            raise ServiceError(
                f"{user.username} is a member already (as {current.role}); PATCH /api/members/{current.pk}/",
                "username",
            )
        membership = services.add_member(project=project, user=user, role=data["role"], by=request.user)
        return Response(MemberOutput(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    def _membership(self, request, pk: int) -> Membership:
        membership = Membership.objects.select_related("project", "user").filter(pk=pk).first()
        if membership is None or role_of(request.user, membership.project) is None:
            raise Http404("No such member.")  # the same answer whether it exists or not
        check(request.user, "manage_project", membership.project)
        return membership

    @extend_schema(responses=MemberOutput, summary="One member (admins)")
    def get(self, request, pk: int):
        return Response(MemberOutput(self._membership(request, pk)).data)

    @extend_schema(request=RoleInput, responses=MemberOutput, summary="Change a member's role (admins)")
    def patch(self, request, pk: int):
        membership = self._membership(request, pk)
        serializer = RoleInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.change_role(
            project=membership.project,
            user=membership.user,
            role=serializer.validated_data["role"],
            by=request.user,
        )
        return Response(MemberOutput(membership).data)

    @extend_schema(request=None, responses={204: None}, summary="Remove a member (admins)")
    def delete(self, request, pk: int):
        membership = self._membership(request, pk)
        services.remove_member(project=membership.project, user=membership.user, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationOutput(serializers.ModelSerializer):
    link = serializers.SerializerMethodField(help_text="The page that joins its holder to the project.")
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "link", "created_by", "created_at", "expires_at"]

    def get_link(self, invitation: Invitation) -> str:
        return self.context["request"].build_absolute_uri(invitations.accept_path(invitation))


class InvitationInput(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationListApi(APIView):
    @extend_schema(
        responses=InvitationOutput(many=True), summary="The project's invitations still waiting (admins)"
    )
    def get(self, request, pk: int):
        project = project_for(request.user, pk, "manage_project")
        waiting = invitations.pending(project)
        return Response(InvitationOutput(waiting, many=True, context={"request": request}).data)

    @extend_schema(
        request=InvitationInput,
        responses={201: InvitationOutput},
        summary="Invite by a link (no email) or by email (the link is sent there) with a role (admins)",
    )
    def post(self, request, pk: int):
        project = project_for(request.user, pk, "manage_project")
        serializer = InvitationInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = invitations.create_invitation(
            project=project,
            by=request.user,
            role=serializer.validated_data["role"],
            email=serializer.validated_data["email"],
            site_url=request.build_absolute_uri("/"),
        )
        return Response(
            InvitationOutput(invitation, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class InvitationDetailApi(APIView):
    @extend_schema(
        request=None, responses={204: None}, summary="Withdraw an invitation: its link stops working"
    )
    def delete(self, request, pk: int):
        invitation = Invitation.objects.select_related("project").filter(pk=pk).first()
        if invitation is None or role_of(request.user, invitation.project) is None:
            raise Http404("No such invitation.")
        check(request.user, "manage_project", invitation.project)
        invitations.revoke_invitation(invitation=invitation, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
