"""Two processes that find a project's snapshot short rebuild it once, not one after the other; a read that
loses its files to another process's rewrite looks again (the full suite's studio test once timed out on it)."""

from labeling import snapshot
from tests.conftest import make_samples


def test_a_rebuild_finding_the_snapshot_already_whole_leaves_its_files(project):
    make_samples(project, ["a", "b", "c"])
    snapshot.rebuild(project)  # what the other process just did
    before = snapshot.version_of(project)
    snapshot.rebuild(project, unless_holds=3)
    assert snapshot.version_of(project) == before
    snapshot.rebuild(project, unless_holds=4)  # short of a row: written again
    assert snapshot.version_of(project) != before
    snapshot.rebuild(project)  # unconditional (samples edited): written again
    assert snapshot.load(project, 3).column("text").to_pylist() == ["a", "b", "c"]


def test_a_read_whose_files_vanish_under_it_reads_again(project, monkeypatch):
    make_samples(project, ["a", "b", "c"])
    snapshot.rebuild(project)
    real = snapshot._Snapshot.read
    calls = []

    def vanishing(self, start, stop, columns=None):
        calls.append(start)
        if len(calls) == 1:
            raise FileNotFoundError("rows-0.parquet")
        return real(self, start, stop, columns)

    monkeypatch.setattr(snapshot._Snapshot, "read", vanishing)
    assert snapshot.rows(project, 0, 3, 3).column("text").to_pylist() == ["a", "b", "c"]
    assert len(calls) == 2
