from django.urls import path

from . import api, export_api, restore_api

urlpatterns = [
    path("projects/<int:pk>/lfs/", api.LFListApi.as_view(), name="api_project_lfs"),
    path("projects/<int:pk>/lfs/preview/", api.LFPreviewApi.as_view(), name="api_project_lf_preview"),
    path("lfs/<int:pk>/", api.LFDetailApi.as_view(), name="api_lf"),
    path("projects/<int:pk>/runs/", api.RunListApi.as_view(), name="api_project_runs"),
    path("projects/<int:pk>/runs/latest/", api.LatestRunApi.as_view(), name="api_project_latest_run"),
    path("runs/<int:pk>/", api.RunDetailApi.as_view(), name="api_run"),
    path("projects/<int:pk>/export/", api.ExportApi.as_view(), name="api_project_export"),
    path("projects/<int:pk>/exports/", export_api.ExportJobListApi.as_view(), name="api_project_exports"),
    path("exports/<int:pk>/", export_api.ExportJobDetailApi.as_view(), name="api_export"),
    path("exports/<int:pk>/download/", export_api.ExportJobDownloadApi.as_view(), name="api_export_download"),
    path("projects/restore/", restore_api.RestoreListApi.as_view(), name="api_restores"),
    path("restores/<int:pk>/", restore_api.RestoreJobDetailApi.as_view(), name="api_restore"),
]
