"""API-wide behaviour: errors are JSON with a message and, where it applies, the field at fault."""

from rest_framework.views import exception_handler as drf_exception_handler

from projects.services import ServiceError


def _first_message(detail):
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        return _first_message(value)
    return str(detail)


def exception_handler(exc, context):
    from rest_framework import status
    from rest_framework.response import Response

    if isinstance(exc, ServiceError):
        body = {"message": exc.message}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        response.data = {"message": str(data["detail"])}
    elif isinstance(data, dict):
        field = next(iter(data), None)
        message = _first_message(data[field]) if field else "invalid request"
        response.data = {
            "message": f"{field}: {message}" if field not in (None, "non_field_errors") else message,
            "field": field,
            "errors": data,
        }
    elif isinstance(data, list):
        response.data = {"message": _first_message(data), "errors": data}
    return response
