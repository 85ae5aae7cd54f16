from django.urls import path

from . import api, quality_api

urlpatterns = [
    path("projects/", api.ProjectListApi.as_view(), name="api_projects"),
    path("projects/<int:pk>/", api.ProjectDetailApi.as_view(), name="api_project"),
    path("projects/<int:pk>/classes/<int:index>/", api.ClassDetailApi.as_view(), name="api_project_class"),
    path("projects/<int:pk>/imports/", api.ImportListApi.as_view(), name="api_project_imports"),
    path("imports/<int:pk>/", api.ImportDetailApi.as_view(), name="api_import"),
    path("projects/<int:pk>/samples/", api.SampleListApi.as_view(), name="api_project_samples"),
    path("projects/<int:pk>/annotations/", api.AnnotationListApi.as_view(), name="api_project_annotations"),
    path("projects/<int:pk>/queue/next/", api.QueueNextApi.as_view(), name="api_queue_next"),
    path("projects/<int:pk>/agreement/", quality_api.AgreementApi.as_view(), name="api_project_agreement"),
    path("projects/<int:pk>/quality/", quality_api.QualityApi.as_view(), name="api_project_quality"),
    path(
        "projects/<int:pk>/annotators/<int:user_id>/exclusion/",
        quality_api.ExclusionApi.as_view(),
        name="api_annotator_exclusion",
    ),
    path("projects/<int:pk>/checks/", quality_api.CheckListApi.as_view(), name="api_project_checks"),
    path(
        "projects/<int:pk>/checks/<int:sample_id>/",
        quality_api.CheckDetailApi.as_view(),
        name="api_project_check",
    ),
]
