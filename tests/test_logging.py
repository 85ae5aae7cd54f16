"""Logging: a refused request (403, 404) is one warning line; a server error keeps its traceback."""

from __future__ import annotations

import io
import logging
import sys

from django.urls import reverse

from config.log_filters import ClientErrorsWithoutTraceback


def _console():
    for handler in logging.getLogger().handlers:
        if any(isinstance(f, ClientErrorsWithoutTraceback) for f in handler.filters):
            return handler
    raise AssertionError("the console handler has no ClientErrorsWithoutTraceback filter")


def test_a_refused_page_logs_one_line_without_a_traceback(client, project, charlie, eve):
    handler = _console()
    stream = io.StringIO()
    old = handler.setStream(stream)
    try:
        client.force_login(charlie)
        assert client.get(reverse("lf_studio", args=[project.pk])).status_code == 403
        client.force_login(eve)
        assert client.get(reverse("lf_studio", args=[project.pk])).status_code == 404
    finally:
        handler.setStream(old)
    out = stream.getvalue()
    assert "Forbidden" in out and "Not Found" in out
    assert "Traceback" not in out


def _record(status: int) -> logging.LogRecord:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), info)
    record.status_code = status
    return record


def test_a_server_error_keeps_its_traceback():
    kept = _record(500)
    assert ClientErrorsWithoutTraceback().filter(kept) and kept.exc_info is not None
    dropped = _record(403)
    assert ClientErrorsWithoutTraceback().filter(dropped) and dropped.exc_info is None
