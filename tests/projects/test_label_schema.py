"""Class names a project's label schema accepts, and the ones it refuses with a reason."""

import pytest

from projects.models import Project
from projects.services import ServiceError, clean_labels, create_project


def test_classes_may_be_given_one_per_line_or_comma_separated():
    assert clean_labels("HAM\nSPAM") == ["HAM", "SPAM"]
    assert clean_labels("HAM, SPAM") == ["HAM", "SPAM"]


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        (["HAM"], "at least two classes"),
        (["HAM", "ham"], "must be different"),
        (["HAM", "A,B"], "comma or a line break"),
        (["HAM", "C\nD"], "comma or a line break"),
        (["HAM", "abstain"], "reserved"),
        ([f"C{i}" for i in range(21)], "at most 20"),
    ],
)
def test_a_bad_schema_is_refused_and_no_project_is_made(alice, labels, reason):
    with pytest.raises(ServiceError, match=reason):
        create_project(user=alice, name="Spam", labels=labels)
    assert not Project.objects.exists()
