"""Pages for accounts, invitations and the audit log (kept apart from projects/urls.py, which others edit)."""

from django.urls import path

from . import account_views, audit_views, member_views

urlpatterns = [
    path("account/tokens/", account_views.api_tokens, name="api_tokens"),
    path("account/tokens/<int:token_id>/revoke/", account_views.api_token_revoke, name="api_token_revoke"),
    path(
        "account/tokens/sign-in/revoke/",
        account_views.api_sign_in_token_revoke,
        name="api_sign_in_token_revoke",
    ),
    path("projects/<int:pk>/invitations/", member_views.invitation_list, name="invitations"),
    path(
        "projects/<int:pk>/invitations/<int:invitation_id>/revoke/",
        member_views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invitations/<str:token>/", member_views.invitation_accept, name="invitation_accept"),
    path("projects/<int:pk>/audit/", audit_views.audit_log, name="audit_log"),
]
