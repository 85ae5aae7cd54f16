"""Error pages: under /api/ an unknown address is answered in JSON like every other API error."""

from django.http import JsonResponse
from django.views import defaults


def not_found(request, exception):
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"message": f"there is nothing at {request.path} (check the id and the address)"}, status=404
        )
    return defaults.page_not_found(request, exception)
