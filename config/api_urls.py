from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.token_view import obtain_token

urlpatterns = [
    path("token/", obtain_token, name="api_token"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("", include("projects.api_urls")),
    path("", include("projects.member_api_urls")),
    path("", include("labeling.api_urls")),
]
