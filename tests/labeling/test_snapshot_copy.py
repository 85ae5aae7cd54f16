"""The snapshot part read through COPY and pyarrow is the part read row by row, or declines to be."""

from labeling import snapshot
from projects.models import Sample
from tests.conftest import make_project, make_samples

TEXTS = [
    'a "quoted", comma',
    "two\nlines\r\nthree",
    "👩\u200d👩\u200d👧 café",
    "  spaced  ",
    "\\N",
    "tab\there",
]


def _project(alice, fields):
    project = make_project(alice, labels=("HAM", "SPAM"))
    samples = make_samples(project, TEXTS, splits=["train", "dev", "test", "train", "dev", "test"])
    for sample, extra in zip(samples, fields, strict=True):
        Sample.objects.filter(pk=sample.pk).update(fields=extra)
    return project


def test_text_fields_read_by_copy_equal_the_row_by_row_part(alice):
    fields = [
        {"id": "a1", "note": 'says "hi"\n'},
        {"id": "a2"},
        {"id": "a3", "note": ""},
        {"id": "a4", "note": None},
        {},
        {"id": "a6", "note": "2020-01-01", "ü": "ß"},
    ]
    project = _project(alice, fields)
    fast = snapshot._columns_by_copy(project, 0, 5)
    slow = snapshot._columns_row_by_row(project, 0, 5)
    assert fast is not None and fast.equals(slow), (fast.to_pydict(), slow.to_pydict())
    assert fast.column("text").to_pylist() == TEXTS
    # A range of rows is a range.
    assert snapshot._columns_by_copy(project, 2, 3).equals(snapshot._columns_row_by_row(project, 2, 3))
    assert snapshot._columns_by_copy(project, 7, 9) is None


def test_samples_without_fields_read_by_copy(alice):
    project = _project(alice, [{}] * 6)
    assert snapshot._columns_by_copy(project, 0, 5).equals(snapshot._columns_row_by_row(project, 0, 5))


def test_fields_that_are_not_text_are_left_to_the_row_by_row_path(alice):
    project = _project(alice, [{"likes": 3}, {"likes": 1.5}, {"ok": True}, {"tags": ["a"]}, {}, {}])
    assert snapshot._columns_by_copy(project, 0, 5) is None
    snapshot.rebuild(project)
    table = snapshot.load(project, 6)
    assert table.column("field:likes").to_pylist() == ["3", "1.5", None, None, None, None]
    assert table.column("field:tags").to_pylist()[3] == '["a"]'
