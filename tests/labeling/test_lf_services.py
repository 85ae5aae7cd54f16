"""The services behind the studio's preview and edits, without the pages."""

from labeling import services
from labeling.models import LabelingFunction
from tests.conftest import make_samples
from tests.labeling.helpers import apply_and_refit


def test_preview_counts_conflicts_with_other_lfs_only(project, alice):
    make_samples(project, ["my song", "my video", "a song"], gold=[0, 1, 0])
    song = services.create_lf(
        project=project, user=alice, name="song", kind="keyword", label="HAM", config={"keywords": ["song"]}
    )
    services.create_lf(
        project=project, user=alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    apply_and_refit(project)
    # Editing "song" to vote SPAM: it would conflict with nothing ("my" votes SPAM too), and not with itself.
    preview = services.preview_lf(
        project=project, kind="keyword", label="SPAM", config={"keywords": ["song"]}, exclude_lf=song
    )
    assert (preview["hits"], preview["conflict_count"]) == (2, 0)
    preview = services.preview_lf(project=project, kind="keyword", label="HAM", config={"keywords": ["song"]})
    assert preview["conflict_count"] == 1  # "my song": "my" votes SPAM
    assert (preview["correct"], preview["incorrect"], preview["empirical_accuracy"]) == (2, 0, 1.0)


def test_preview_spans_are_code_point_offsets(project, alice):
    make_samples(project, ["ünïcödé song here"])
    preview = services.preview_lf(project=project, kind="keyword", label="HAM", config={"keywords": ["song"]})
    example = preview["examples"][0]
    start, stop = example["spans"][0]
    assert example["text"][start:stop] == "song"


def test_renaming_an_lf_makes_no_new_version(project, alice):
    lf = services.create_lf(
        project=project, user=alice, name="a", kind="regex", label="HAM", config={"pattern": "a"}
    )
    services.update_lf(lf=lf, user=alice, name="b", kind="regex", label="HAM", config={"pattern": "a"})
    lf = LabelingFunction.objects.get(pk=lf.pk)
    assert (lf.name, lf.current.number, lf.versions.count()) == ("b", 1, 1)
