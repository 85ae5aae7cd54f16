from django.urls import path

from . import api

urlpatterns = [
    path("projects/", api.ProjectListApi.as_view(), name="api_projects"),
    path("projects/<int:pk>/", api.ProjectDetailApi.as_view(), name="api_project"),
    path("projects/<int:pk>/imports/", api.ImportListApi.as_view(), name="api_project_imports"),
    path("imports/<int:pk>/", api.ImportDetailApi.as_view(), name="api_import"),
    path("projects/<int:pk>/samples/", api.SampleListApi.as_view(), name="api_project_samples"),
    path("projects/<int:pk>/annotations/", api.AnnotationListApi.as_view(), name="api_project_annotations"),
    path("projects/<int:pk>/queue/next/", api.QueueNextApi.as_view(), name="api_queue_next"),
]
