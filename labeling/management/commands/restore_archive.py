"""Make a new project from a Chorus project archive (the `archive` export), with a user as its admin."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from labeling import archive
from projects.formats import ImportFailed
from projects.services import ServiceError


class Command(BaseCommand):
    help = "Restore a project archive (.chorus.zip) as a new project; its LFs are applied and refit by the worker."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the archive, as downloaded from an archive export")
        parser.add_argument("--owner", required=True, help="username of the new project's admin")
        parser.add_argument(
            "--name",
            help="the new project's name (default: the archived project's, followed by \"(restored <date>)\")",
        )

    def handle(self, *args, file, owner, name, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"there is no user {owner!r}")
        if not Path(file).is_file():
            raise CommandError(f"{file}: no such file")
        try:
            restored = archive.restore(user=user, path=Path(file), name=name)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        except ImportFailed as exc:
            raise CommandError("\n".join(p.message for p in exc.problems)) from None
        project = restored.project
        count = project.samples.count()
        lfs = project.lfs.count()
        self.stdout.write(
            f"Restored {project.name} as project {project.pk}: {count} samples, {lfs} labeling functions"
        )
        for notice in restored.notices:
            self.stdout.write(self.style.WARNING(notice["message"]))
