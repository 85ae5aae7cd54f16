"""One place that decides what a member may do in a project.

Every page, htmx fragment, API view and export asks `can` (or `project_for`), so the rules cannot drift
apart. Someone who is not a member gets 404 for anything of the project: its existence is private too.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership, Project, Role

ALL = frozenset(Role.values)
STAFF = frozenset({Role.ADMIN, Role.DEVELOPER})

# action -> roles allowed to do it
RULES: dict[str, frozenset[str]] = {
    "view_project": ALL,
    "label": frozenset({Role.ADMIN, Role.DEVELOPER, Role.REVIEWER, Role.ANNOTATOR}),
    # Every sample with its gold label, page by page: the API twin of reading single samples, and what an export
    # holds but the predictions. So not viewers (who read the dashboards, their counts and drill-down lists),
    # and not annotators (the gold labels would tell them the answers).
    "view_samples": frozenset({Role.ADMIN, Role.DEVELOPER, Role.REVIEWER}),
    "view_dashboard": frozenset({Role.ADMIN, Role.DEVELOPER, Role.REVIEWER, Role.VIEWER}),
    "view_lfs": frozenset({Role.ADMIN, Role.DEVELOPER, Role.REVIEWER, Role.VIEWER}),
    "edit_lfs": STAFF,
    "run_refit": STAFF,
    "import": STAFF,
    # The labels of every sample with each hand label and who gave it (UX.md: import and export are for
    # developers and admins); viewers may not read single samples or the annotators' labels by name either.
    "export": STAFF,
    "manage_project": frozenset({Role.ADMIN}),
    # Deleting the project with everything in it (samples, hand labels, LFs, runs, files): cannot be undone,
    # so its admins only, like the settings page that holds it.
    "delete_project": frozenset({Role.ADMIN}),
    # Adjudicate disagreements, and see every hand label and comment with who gave it.
    "review": frozenset({Role.ADMIN, Role.REVIEWER}),
    # Each annotator's accuracy on gold checks and agreement with the others, by name: it judges people, so
    # those who run the annotation (admins, reviewers), not everyone who reads the dashboards.
    "view_quality": frozenset({Role.ADMIN, Role.REVIEWER}),
    # The gold checks and their known answers: read by those who read the quality table measured on them
    # (admins, reviewers), never by annotators (checks are unannounced). Marking and unmarking a check
    # changes gold labels, so it stays with manage_project.
    "view_checks": frozenset({Role.ADMIN, Role.REVIEWER}),
    # Who did what and when: it names every member and what they labeled, so admins only.
    "view_audit": frozenset({Role.ADMIN}),
    # One sample in full (every LF vote, the probabilities, each hand label with who gave it): developers and
    # reviewers (UX.md); viewers read the dashboards and their drill-down lists, not single samples.
    "view_sample": frozenset({Role.ADMIN, Role.DEVELOPER, Role.REVIEWER}),
}


def role_of(user, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    cache = getattr(user, "_chorus_roles", None)
    if cache is None:
        cache = user._chorus_roles = {}
    if project.pk not in cache:
        cache[project.pk] = (
            Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
        )
    return cache[project.pk]


def can(user, action: str, project: Project) -> bool:
    if action not in RULES:
        raise ValueError(f"unknown action {action!r}")
    return role_of(user, project) in RULES[action]


def check(user, action: str, project: Project) -> None:
    """Raise Http404 for outsiders and PermissionDenied (403) for members whose role does not allow it."""
    role = role_of(user, project)
    if role is None:
        raise Http404("No such project.")
    if role not in RULES[action]:
        raise PermissionDenied(f"Your role in this project ({role}) does not allow this.")


def project_for(user, project_id, action: str) -> Project:
    try:
        project = Project.objects.get(pk=int(project_id))
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404("No such project.") from None
    check(user, action, project)
    return project
