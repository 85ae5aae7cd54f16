from django.urls import path

from . import views

urlpatterns = [
    path("projects/<int:pk>/lfs/", views.lf_studio, name="lf_studio"),
    path("projects/<int:pk>/lfs/preview/", views.lf_preview, name="lf_preview"),
    path("projects/<int:pk>/lfs/<int:lf_id>/", views.lf_edit, name="lf_edit"),
    path("projects/<int:pk>/lfs/<int:lf_id>/active/", views.lf_active, name="lf_active"),
    path("projects/<int:pk>/lfs/<int:lf_id>/delete/", views.lf_delete, name="lf_delete"),
    path("projects/<int:pk>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<int:pk>/runs/status/", views.run_status, name="run_status"),
    path("projects/<int:pk>/runs/refit/", views.refit, name="refit"),
    path("projects/<int:pk>/export/", views.export, name="export"),
]
