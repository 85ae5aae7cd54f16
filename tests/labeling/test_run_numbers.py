"""Runs are numbered within their project: the pages say "Refit #2" for a project's second run."""

from django.urls import reverse

from labeling import services
from labeling.models import LabelModelRun
from tests.conftest import make_project, make_samples
from tests.labeling.helpers import apply_and_refit


def _lf(project, user, name, word):
    return services.create_lf(
        project=project, user=user, name=name, kind="keyword", label="SPAM", config={"keywords": [word]}
    )


def test_each_project_numbers_its_runs_from_one(project, alice, client, django_capture_on_commit_callbacks):
    other = make_project(alice, name="Other")
    for p in (project, other):
        make_samples(p, ["buy now", "hello there", "buy this"])
    with django_capture_on_commit_callbacks(execute=False):
        _lf(other, alice, "buy", "buy")
    first_other = apply_and_refit(other)
    with django_capture_on_commit_callbacks(execute=False):
        lf = _lf(project, alice, "buy", "buy")
    first = apply_and_refit(project)
    with django_capture_on_commit_callbacks(execute=False):
        services.update_lf(lf=lf, user=alice, config={"keywords": ["hello"]})
    second = apply_and_refit(project)
    assert (first_other.number, first.number, second.number) == (1, 1, 2)
    assert first.pk > first_other.pk  # the number is not the global id
    client.force_login(alice)
    page = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert "Refit #2, finished" in page


def test_a_run_made_directly_still_gets_the_next_number(project):
    a = LabelModelRun.objects.create(project=project)
    b = LabelModelRun.objects.create(project=project, status="running")
    assert (a.number, b.number) == (1, 2)
