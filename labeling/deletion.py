"""What the labeling app keeps for a project that is being deleted: counted for the person deleting it, and its
files (run arrays, the snapshot, uploaded predictions, export files) removed once the deletion commits.

Called through projects' project_deleting signal, inside the deletion's transaction; the rows themselves go
with the project (their foreign keys cascade).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from projects.deletion import remove_paths

from . import snapshot
from .models import ExportJob, LabelingFunction, LabelModelRun, LFVersion


def files_of(project) -> list[Path]:
    """Every file and folder under MEDIA_ROOT that holds something of `project`."""
    media = Path(settings.MEDIA_ROOT)
    paths = [media / "runs" / f"project-{project.pk}"]
    folder = snapshot.folder(project)
    paths += [folder, folder.parent / f".{folder.name}.lock"]
    # Uploaded predictions are named predictions/<project id>-<uuid>.parquet (labeling.kinds).
    paths += sorted((media / "predictions").glob(f"{project.pk}-*.parquet"))
    exports = ExportJob.objects.filter(project=project).exclude(file="").values_list("file", flat=True)
    paths += [media / name for name in exports]
    return paths


def project_deleting(project) -> dict[str, int]:
    paths = files_of(project)
    transaction.on_commit(lambda: remove_paths(paths))
    return {
        "labeling functions": LabelingFunction.objects.filter(project=project).count(),
        "LF versions": LFVersion.objects.filter(lf__project=project).count(),
        "label-model runs": LabelModelRun.objects.filter(project=project).count(),
        "exports": ExportJob.objects.filter(project=project).count(),
    }
