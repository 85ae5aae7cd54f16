from django.urls import path

from . import analysis_views, export_views, restore_views, views

urlpatterns = [
    path("projects/restore/", restore_views.restore_project, name="restore_project"),
    path("restores/<int:job_id>/", restore_views.restore_job, name="restore_job"),
    path("projects/<int:pk>/lfs/", views.lf_studio, name="lf_studio"),
    path("projects/<int:pk>/lfs/preview/", views.lf_preview, name="lf_preview"),
    path("projects/<int:pk>/lfs/<int:lf_id>/", views.lf_edit, name="lf_edit"),
    path("projects/<int:pk>/lfs/<int:lf_id>/active/", views.lf_active, name="lf_active"),
    path("projects/<int:pk>/lfs/<int:lf_id>/delete/", views.lf_delete, name="lf_delete"),
    path("projects/<int:pk>/dashboard/", views.dashboard, name="dashboard"),
    path("projects/<int:pk>/runs/status/", views.run_status, name="run_status"),
    path("projects/<int:pk>/runs/refit/", views.refit, name="refit"),
    path("projects/<int:pk>/export/", views.export, name="export"),
    path("projects/<int:pk>/exports/", export_views.exports, name="exports"),
    path(
        "projects/<int:pk>/exports/<int:job_id>/download/",
        export_views.export_download,
        name="export_download",
    ),
    path("projects/<int:pk>/analysis/", analysis_views.lf_table, name="analysis"),
    path("projects/<int:pk>/analysis/conflicts/", analysis_views.conflicts, name="analysis_conflicts"),
    path("projects/<int:pk>/analysis/metrics/", analysis_views.metrics, name="analysis_metrics"),
    path("projects/<int:pk>/analysis/history/", analysis_views.history, name="analysis_history"),
    path("projects/<int:pk>/analysis/samples/", analysis_views.samples, name="drilldown"),
    path("projects/<int:pk>/analysis/samples/<int:row>/", analysis_views.sample, name="analysis_sample"),
    path("projects/<int:pk>/analysis/overview/", analysis_views.overview, name="analysis_overview"),
]
