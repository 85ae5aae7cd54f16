from django.urls import path

from . import member_api

urlpatterns = [
    path("projects/<int:pk>/members/", member_api.MemberListApi.as_view(), name="api_project_members"),
    path("members/<int:pk>/", member_api.MemberDetailApi.as_view(), name="api_member"),
    path(
        "projects/<int:pk>/invitations/",
        member_api.InvitationListApi.as_view(),
        name="api_project_invitations",
    ),
    path("invitations/<int:pk>/", member_api.InvitationDetailApi.as_view(), name="api_invitation"),
]
