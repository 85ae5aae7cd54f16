from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import signin

urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", signin.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset by email, with Django's views and our templates (templates/registration/).
    path("password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        signin.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"
    ),
    path("account/password/", signin.PasswordChangeView.as_view(), name="password_change"),
    path("account/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("api/", include("config.api_urls")),
    path("", include("projects.urls")),
    path("", include("projects.team_urls")),
    path("", include("labeling.urls")),
]

handler404 = "config.errors.not_found"
