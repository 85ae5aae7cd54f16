"""Run an LF's application and the refit in the test process, for view tests that need a finished run fast.

The `db` fixture never commits, so nothing reaches the broker; this calls the same functions the worker's
tasks call, in the same order.
"""

from labeling import application, refit, services
from labeling.models import LabelModelRun


def apply_and_refit(project) -> LabelModelRun:
    for version in services.current_versions(project).filter(status="queued"):
        application.start(version.pk)
    run = services.request_refit(project=project)
    refit.refit(run.pk)
    run.refresh_from_db()
    assert run.status == "done", run.message
    return run
