from django.urls import path

from . import member_api

urlpatterns = [
    path("projects/<int:pk>/members/", member_api.MemberListApi.as_view(), name="api_project_members"),
    path("members/<int:pk>/", member_api.MemberDetailApi.as_view(), name="api_member"),
]
