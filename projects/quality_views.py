"""Pages on the quality of hand labels: agreement between annotators (everyone who reads dashboards), each
annotator's quality with the exclude action (admins and reviewers see it, admins act), and gold checks
(admins and reviewers read them; admins mark and unmark samples with a known answer). Annotators see none
of it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from . import checks, quality
from .models import Annotation, Sample
from .navigation import nav_for
from .permissions import can, check, project_for, role_of
from .services import ServiceError

INVALID = 422
CHECKS_PER_PAGE = 100
PAIRS_SHOWN = 200


def _page(request, project, **context) -> dict:
    return {
        "project": project,
        "nav": nav_for(request, project, "agreement"),
        "role": role_of(request.user, project),
        **context,
    }


@login_required
def agreement(request, pk):
    project = project_for(request.user, pk, "view_dashboard")
    figures = quality.project_agreement(project)
    # A crowd of a hundred annotators has thousands of pairs: the page lists those with most samples in
    # common (the API lists them all).
    pairs = sorted(figures["pairs"], key=lambda p: (-p["n_items"], p["annotator_a"], p["annotator_b"]))
    context = _page(
        request,
        project,
        agreement=figures,
        pairs=pairs[:PAIRS_SHOWN],
        pairs_hidden=max(0, len(pairs) - PAIRS_SHOWN),
        quality=quality.annotator_quality(project) if can(request.user, "view_quality", project) else None,
        can_manage=can(request.user, "manage_project", project),
        can_view_checks=can(request.user, "view_checks", project),
        checks=Sample.objects.filter(project=project, check_label__isnull=False).count(),
    )
    return render(request, "projects/agreement.html", context)


@login_required
@require_POST
def annotator_exclusion(request, pk, user_id):
    """Exclude an annotator's labels from counting, or count them again ("include" in the form)."""
    project = project_for(request.user, pk, "manage_project")
    annotator = get_user_model().objects.filter(pk=user_id).first()
    if annotator is None or not Annotation.objects.filter(project=project, annotator=annotator).exists():
        raise Http404("Nobody of that id has labeled in this project.")
    try:
        if "include" in request.POST:
            checks.include_annotator(project=project, annotator=annotator, by=request.user)
            messages.success(request, f"{annotator.username}'s labels count again.")
        else:
            checks.exclude_annotator(project=project, annotator=annotator, by=request.user)
            messages.success(
                request,
                f"Excluded {annotator.username}'s labels: they no longer count for gold labels, "
                "agreement or the label matrix. Include them again at any time.",
            )
    except ServiceError as exc:
        messages.error(request, f"{annotator.username}: {exc.message}.")
    return redirect("agreement", project.pk)


class BadLines(ServiceError):
    """Every pasted line that cannot become a check, each naming its line number; nothing was marked."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems), "samples")
        self.problems = problems


def parse_check_lines(project, text: str) -> list[tuple[Sample, int | None]]:
    """Lines of "external id" or "external id, CLASS" into (sample, label index or None). Any bad line
    raises BadLines listing every bad line, so one correction fixes them all."""
    wanted: list[tuple[int, str, str]] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        external_id, _, label = (part.strip() for part in line.partition(","))
        wanted.append((number, external_id, label))
    if not wanted:
        raise ServiceError("name at least one sample (its external id), one a line", "samples")
    if len(wanted) > checks.MAX_CHECKS_PER_REQUEST:
        raise ServiceError(
            f"at most {checks.MAX_CHECKS_PER_REQUEST:,} samples per request ({len(wanted):,} given)",
            "samples",
        )
    found = {
        s.external_id: s
        for s in Sample.objects.filter(project=project, external_id__in=[w[1] for w in wanted])
    }
    items, problems = [], []
    first_line: dict[str, int] = {}
    for number, external_id, label in wanted:
        sample = found.get(external_id)
        index = project.label_index(label) if label else None
        if sample is None:
            problems.append(f"line {number}: there is no sample {external_id!r} in this project")
        elif external_id in first_line:
            problems.append(f"line {number}: sample {external_id!r} is on line {first_line[external_id]} too")
        elif label and index is None:
            problems.append(
                f"line {number}: {label!r} is not one of the classes ({', '.join(project.labels)})"
            )
        elif (problem := checks.check_problem(project, sample, index)) is not None:
            problems.append(f"line {number}: {problem[0]}")
        else:
            items.append((sample, index))
        first_line.setdefault(external_id, number)
    if problems:
        raise BadLines(problems)
    return items


@login_required
@require_http_methods(["GET", "POST"])
def gold_checks(request, pk):
    """The project's gold checks and how each was answered (admins, reviewers); marking or unmarking samples
    as checks (admins). An htmx GET answers the list alone (its "More checks" link fetches the next page)."""
    project = project_for(request.user, pk, "view_checks")
    error, problems = None, []
    if request.method == "POST":
        check(request.user, "manage_project", project)
        try:
            if "unmark" in request.POST:
                found = Sample.objects.filter(project=project, pk=_int(request.POST.get("sample"))).first()
                if found is None:
                    raise Http404("No such sample in this project.")
                checks.unmark_checks(project=project, samples=[found], by=request.user)
                messages.success(request, f"Sample {found.external_id} is no longer a gold check.")
            else:
                items = parse_check_lines(project, request.POST.get("samples", ""))
                marked = checks.mark_checks(project=project, items=items, by=request.user)
                messages.success(
                    request, f"Marked {len(marked)} sample{'' if len(marked) == 1 else 's'} as gold checks."
                )
        except ServiceError as exc:
            error = exc.message
            problems = getattr(exc, "problems", [])
        else:
            return redirect("gold_checks", project.pk)
    after = _int(request.GET.get("after"), default=-1)
    answers = Q(annotations__label__isnull=False, annotations__source=Annotation.Source.HUMAN)
    page = list(
        Sample.objects.filter(project=project, check_label__isnull=False, row__gt=after)
        .order_by("row")
        .annotate(
            answered=Count("annotations", filter=answers),
            correct=Count("annotations", filter=answers & Q(annotations__label=F("check_label"))),
        )[: CHECKS_PER_PAGE + 1]
    )
    more = len(page) > CHECKS_PER_PAGE
    page = page[:CHECKS_PER_PAGE]
    for s in page:
        s.answer = project.label_name(s.check_label)
    context = _page(
        request,
        project,
        checks=page,
        next_after=page[-1].row if more else None,
        total=Sample.objects.filter(project=project, check_label__isnull=False).count(),
        error=error,
        problems=problems,
        posted=request.POST.get("samples", "") if error else "",
        can_manage=can(request.user, "manage_project", project),
    )
    # An htmx GET is the "More checks" link: the next rows alone.
    fragment = request.htmx and request.method == "GET"
    template = "projects/gold_checks.html#check_rows" if fragment else "projects/gold_checks.html"
    return render(request, template, context, status=INVALID if error else 200)


def _int(raw, default=None):
    try:
        return int(raw)
    except (TypeError, ValueError):
        if default is not None:
            return default
        raise Http404("No such sample in this project.") from None
