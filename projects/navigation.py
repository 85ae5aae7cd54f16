"""The project's sections for templates/_project_nav.html, each shown only to the roles that may open it.

The labeling app's pages are named here too; a name that does not reverse (that app's page is not there)
is left out, so the projects pages work whether or not the labeling pages exist.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from .permissions import can

# (url name, title, action the role needs)
SECTIONS = [
    ("project_detail", "Overview", "view_project"),
    ("label", "Label", "label"),
    ("review", "Review", "review"),
    ("import_samples", "Import", "import"),
    ("lf_studio", "LF studio", "view_lfs"),
    ("dashboard", "Dashboard", "view_dashboard"),
    ("analysis", "Analysis", "view_dashboard"),
    ("agreement", "Agreement", "view_dashboard"),
    ("members", "Members", "manage_project"),
]


def url_or_none(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def nav_for(request, project, current: str) -> list[dict]:
    items = []
    for name, title, action in SECTIONS:
        if not can(request.user, action, project):
            continue
        url = url_or_none(name, project.pk)
        if url is None:
            continue
        items.append({"name": name, "title": title, "url": url, "current": name == current})
    return items
