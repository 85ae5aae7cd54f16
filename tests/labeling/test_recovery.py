"""Jobs a stopped worker left half-done are queued again when Chorus starts on one machine."""

from django.core.management import call_command

from labeling import services
from labeling.models import LabelModelRun, LFVersion, VoteChunk
from projects.models import ImportJob
from tests.conftest import make_samples, wait_for


def test_recover_jobs_sends_lost_work_to_the_worker_again(worker, project, alice):
    make_samples(project, ["buy now", "hello"])
    lf = services.create_lf(
        project=project, user=alice, name="buy", kind="keyword", label="SPAM", config={"keywords": ["buy"]}
    )
    version = lf.current
    wait_for(
        lambda: LabelModelRun.objects.filter(project=project, status="done").exists(), what="the first run"
    )
    # As a killed worker leaves them: the version mid-application, a run mid-fit.
    LFVersion.objects.filter(pk=version.pk).update(status="running", votes=None, processed=0)
    VoteChunk.objects.create(version=version, start=0, stop=2)
    stuck = LabelModelRun.objects.create(project=project, status="running", lf_versions=[version.pk])
    call_command("recover_jobs")
    wait_for(lambda: LFVersion.objects.get(pk=version.pk).status == "done", what="the application again")
    assert LFVersion.objects.get(pk=version.pk).vote_array().tolist() == [1, -1]
    wait_for(lambda: LabelModelRun.objects.get(pk=stuck.pk).status == "done", what="the refit again")


def test_recover_jobs_leaves_finished_imports_alone(project, alice):
    ImportJob.objects.create(project=project, created_by=alice, filename="a.csv", status="done", file="x")
    call_command("recover_jobs")
    assert ImportJob.objects.get().status == "done"
