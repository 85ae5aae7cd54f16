"""The annotation queue: claims, overlap, never twice to one annotator, orders, and real concurrency."""

import threading
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from projects import queue, services
from projects.models import Annotation, Sample
from tests.conftest import _uses_postgres, add_member, make_samples, make_user, need, token_client


@pytest.fixture
def frank(project):
    user = make_user("frank")
    add_member(project, user, "annotator")
    return user


def _label(project, sample, user, label=0):
    return services.annotate(project=project, sample=sample, user=user, label=label)


def test_two_annotators_get_different_samples_and_a_reload_gives_the_same(project, charlie, frank):
    s0, s1, _ = make_samples(project, ["a", "b", "c"])
    assert queue.claim_next(project, charlie) == s0
    assert queue.claim_next(project, frank) == s1
    assert queue.claim_next(project, charlie) == s0  # my claim holds across reloads
    s0.refresh_from_db()
    assert s0.claimed_by == charlie and s0.claimed_until > timezone.now() + timedelta(minutes=9)


def test_labeling_releases_the_claim_and_the_next_request_claims_the_next_sample(project, charlie, frank):
    s0, s1, s2 = make_samples(project, ["a", "b", "c"])
    assert queue.claim_next(project, charlie) == s0
    _label(project, s0, charlie)
    s0.refresh_from_db()
    assert s0.claimed_by is None and not s0.queued and s0.hand_labels == 1
    assert queue.claim_next(project, frank) == s1
    assert queue.claim_next(project, charlie) == s2


def test_an_expired_claim_is_handed_to_someone_else(project, charlie, frank):
    s0, s1 = make_samples(project, ["a", "b"])
    assert queue.claim_next(project, charlie) == s0
    later = timezone.now() + queue.CLAIM_TTL + timedelta(seconds=1)
    assert queue.claim_next(project, frank, now=later) == s0


def test_a_sample_stays_queued_for_others_until_it_has_its_overlap(project, charlie, frank):
    services.update_workflow(project=project, overlap=2)
    s0, s1 = make_samples(project, ["a", "b"])
    assert queue.claim_next(project, charlie) == s0
    _label(project, s0, charlie)
    assert queue.claim_next(project, frank) == s0  # one label of two: still frank's to label
    _label(project, s0, frank, 1)
    s0.refresh_from_db()
    assert s0.hand_labels == 2 and not s0.queued and s0.disputed
    assert queue.claim_next(project, charlie) == s1
    assert queue.claim_next(project, frank) is None  # charlie holds s1, frank did s0


def test_a_skip_does_not_count_toward_the_overlap_but_the_skipper_never_gets_it_again(
    project, charlie, frank
):
    (s0,) = make_samples(project, ["a"])
    assert queue.claim_next(project, charlie) == s0
    services.annotate(project=project, sample=s0, user=charlie, label=None, reason="not English")
    assert Annotation.objects.get(sample=s0, annotator=charlie).reason == "not English"
    assert queue.claim_next(project, charlie) is None
    assert queue.claim_next(project, frank) == s0


def test_imported_labels_do_not_take_a_sample_out_of_the_queue(project, charlie):
    (s0,) = make_samples(project, ["a"], gold=[1])
    assert queue.claim_next(project, charlie) == s0


def test_raising_the_overlap_requeues_labeled_samples(project, charlie, frank):
    (s0,) = make_samples(project, ["a"])
    _label(project, s0, charlie)
    assert queue.claim_next(project, frank) is None
    services.update_workflow(project=project, overlap=2)
    assert queue.claim_next(project, frank) == s0
    services.update_workflow(project=project, overlap=1)
    assert queue.remaining_for(project, frank) == 0


def test_random_order_is_seeded_stable_per_annotator_and_differs_between_annotators(project, charlie, frank):
    make_samples(project, [f"t{i}" for i in range(40)])
    services.set_queue_order(project=project, user=charlie, queue_order="random")
    services.set_queue_order(project=project, user=frank, queue_order="random")

    def walk(user):
        rows = []
        while (sample := queue.claim_next(project, user)) is not None:
            rows.append(sample.row)
            services.annotate(project=project, sample=sample, user=user, label=None)  # a skip keeps it queued
        return rows

    first = walk(charlie)
    assert sorted(first) == list(range(40)) and first != list(range(40))
    Annotation.objects.filter(annotator=charlie).delete()
    queue.release(project, charlie)
    assert walk(charlie) == first  # the same order again
    assert walk(frank) != first


def _run(project, probabilities=None, votes=()):
    from labeling.models import LabelingFunction, LabelModelRun, LFVersion, pack

    versions = []
    for i, column in enumerate(votes):
        lf = LabelingFunction.objects.create(project=project, name=f"lf{i}")
        versions.append(
            LFVersion.objects.create(
                lf=lf,
                number=1,
                kind="keyword",
                label=0,
                status="done",
                n_rows=len(column),
                votes=pack(np.array(column, dtype=np.int16)),
            ).pk
        )
    n = len(probabilities) if probabilities is not None else len(votes[0])
    return LabelModelRun.objects.create(
        project=project,
        status="done",
        n_samples=n,
        lf_versions=versions,
        probabilities=pack(np.array(probabilities, dtype=np.float32)) if probabilities is not None else None,
    )


def _order(project, user, n):
    rows = []
    for _ in range(n):
        sample = queue.claim_next(project, user)
        if sample is None:
            break
        rows.append(sample.row)
        _label(project, sample, user)
    return rows


def test_least_confident_first_reads_the_latest_run(project, charlie):
    make_samples(project, list("abcde"))
    project.queue_order = "least_confident"
    project.save()
    assert _order(project, charlie, 1) == [0]  # no run yet: row order
    _run(project, probabilities=[[0.9, 0.1], [0.55, 0.45], [0.2, 0.8], [0.5, 0.5], [0.7, 0.3]])
    assert _order(project, charlie, 4) == [3, 1, 4, 2]


def test_conflicts_first_and_uncovered_first_come_from_the_lf_votes(project, charlie, frank):
    make_samples(project, list("abcdef"))
    # lf0 and lf1 disagree on rows 2 and 4; nobody votes on rows 1 and 5.
    _run(project, votes=[[0, -1, 0, -1, 1, -1], [-1, -1, 1, 0, 0, -1]])
    services.set_queue_order(project=project, user=charlie, queue_order="conflicts")
    services.set_queue_order(project=project, user=frank, queue_order="uncovered")
    assert _order(project, charlie, 3) == [2, 4, 0]  # conflicts, then row order
    assert [queue.claim_next(project, frank).row] == [1]
    _label(project, Sample.objects.get(project=project, row=1), frank)
    assert queue.claim_next(project, frank).row == 5


def test_the_queue_asks_a_bounded_number_of_queries(project, charlie, django_assert_max_num_queries):
    make_samples(project, [f"t{i}" for i in range(30)])
    queue.claim_next(project, charlie)
    services.set_queue_order(project=project, user=charlie, queue_order="random")
    with django_assert_max_num_queries(12):
        queue.claim_next(project, charlie)


# --- real concurrency on PostgreSQL ---------------------------------------------------------------------------

THREADS = 8


def _in_threads(work):
    """Run work(i) in THREADS threads that start at the same instant, each on its own connection."""
    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS
    errors: list = []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


@pytest.fixture
def crowd(transactional_db):
    from tests.conftest import make_project

    need(_uses_postgres(), "PostgreSQL (DATABASE_URL=postgres://…)")
    owner = make_user("owner")
    project = make_project(owner)
    users = [make_user(f"annotator{i}") for i in range(THREADS)]
    for user in users:
        add_member(project, user, "annotator")
    return project, users


def test_eight_annotators_claiming_at_once_get_eight_different_samples(crowd):
    project, users = crowd
    make_samples(project, [f"t{i}" for i in range(THREADS * 3)])
    for round_ in range(3):
        claimed = _in_threads(lambda i: queue.claim_next(project, users[i]).pk)
        assert len(set(claimed)) == THREADS, f"round {round_}: {claimed}"
        for user, pk in zip(users, claimed, strict=True):
            _label(project, Sample.objects.get(pk=pk), user)
    assert Sample.objects.filter(project=project, queued=True).count() == 0


def test_with_fewer_samples_than_annotators_the_rest_get_nothing(crowd):
    project, users = crowd
    make_samples(project, ["a", "b", "c"])
    claimed = _in_threads(lambda i: getattr(queue.claim_next(project, users[i]), "pk", None))
    got = [pk for pk in claimed if pk is not None]
    assert len(got) == 3 and len(set(got)) == 3


def test_concurrent_api_requests_for_the_next_sample_get_different_samples(crowd):
    project, users = crowd
    make_samples(project, [f"t{i}" for i in range(THREADS + 2)])
    clients = [token_client(user) for user in users]
    url = reverse("api_queue_next", args=[project.pk])

    def ask(i):
        response = clients[i].post(url)
        assert response.status_code == 200, response.content
        return response.json()["id"]

    claimed = _in_threads(ask)
    assert len(set(claimed)) == THREADS
    rows = dict(Sample.objects.filter(pk__in=claimed).values_list("pk", "claimed_by"))
    assert {rows[pk] for pk in claimed} == {u.pk for u in users}


def test_the_remaining_count_stops_at_its_cap(project, charlie):
    make_samples(project, [f"t{i}" for i in range(5)])
    assert queue.remaining_for(project, charlie) == 5
    assert queue.remaining_for(project, charlie, cap=3) == 3


# --- imported gold spread through the queue -------------------------------------------------------------------


def _given(project, user, n):
    """The rows the queue hands `user` one after another, each labeled before the next is asked for."""
    rows = []
    for _ in range(n):
        sample = queue.claim_next(project, user)
        if sample is None:
            break
        rows.append(sample.row)
        _label(project, sample, user)
    return rows


def _gold_positions(project, user, n_gold, n_all):
    rows = _given(project, user, n_all + 1)
    assert sorted(rows) == list(range(n_all))  # every sample once, nothing twice, nothing left
    return [i for i, row in enumerate(rows) if row < n_gold]


def test_imported_gold_is_spread_through_the_queue_not_served_first(project, charlie, frank):
    """A gold file imported before the rest: its samples are the first rows, yet not the first given."""
    # Enough of each that a seeded spread lands in both halves whatever the users' ids (odds of 2 in 65,536).
    n_gold, n_all = 16, 64
    services.update_workflow(project=project, overlap=2)
    make_samples(project, [f"gold {i}" for i in range(n_gold)], gold=[i % 2 for i in range(n_gold)])
    make_samples(project, [f"plain {i}" for i in range(n_all - n_gold)])
    mine = _gold_positions(project, charlie, n_gold, n_all)
    assert len(mine) == n_gold
    assert mine != list(range(n_gold))
    # Spread: some in each half of the queue, and not packed together at any one place.
    assert min(mine) < n_all // 2 <= max(mine)
    assert max(mine) - min(mine) >= n_all // 3
    # Overlap 2: frank gets every sample too (the gold ones charlie labeled included), in his own order.
    franks = _gold_positions(project, frank, n_gold, n_all)
    assert len(franks) == n_gold and franks != mine
    assert Sample.objects.filter(project=project, queued=True).count() == 0
    assert set(
        Sample.objects.filter(project=project, row__lt=n_gold).values_list("hand_labels", flat=True)
    ) == {2}


def test_the_queue_with_imported_gold_asks_a_bounded_number_of_queries(
    project, charlie, django_assert_max_num_queries
):
    make_samples(project, [f"gold {i}" for i in range(10)], gold=[1] * 10)
    make_samples(project, [f"t{i}" for i in range(30)])
    # Every request of the walk, gold or not: the gold rows' key and the next ordinary row are three queries
    # on top of the plain row order's, a due gold sample one window and its claim.
    for _ in range(40):
        with django_assert_max_num_queries(14):
            sample = queue.claim_next(project, charlie)
        _label(project, sample, charlie)


def test_the_gold_order_is_seeded_the_same_again_for_the_same_annotator(alice, charlie):
    from tests.conftest import make_project

    orders = []
    for name in ("first", "second"):
        other = make_project(alice, name=name)
        add_member(other, charlie, "annotator")
        make_samples(other, [f"gold {i}" for i in range(5)], gold=[0] * 5)
        make_samples(other, [f"plain {i}" for i in range(25)])
        orders.append(_given(other, charlie, 31))
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(30))


def test_a_gold_sample_put_back_by_an_undo_comes_again(project, charlie):
    gold, plain = make_samples(project, ["gold", "plain"], gold=[1, None])
    assert sorted(_given(project, charlie, 3)) == [0, 1]
    gold.refresh_from_db()  # the service compares the queue state with the copy it is given
    services.undo_annotation(project=project, sample=gold, user=charlie)
    assert queue.claim_next(project, charlie) == gold


def test_each_gold_place_is_an_ordinary_row_and_each_annotator_has_their_own():
    from types import SimpleNamespace

    gold = np.array([0, 1, 5, 6, 9])
    project = SimpleNamespace(seed=7)
    places = {
        pk: queue.gold_places(project, SimpleNamespace(pk=pk), gold, 12).tolist() for pk in range(1, 40)
    }
    ordinary = {2, 3, 4, 7, 8, 10, 11}
    assert all(set(p) <= ordinary for p in places.values())
    assert len({tuple(p) for p in places.values()}) > 30
    # Every ordinary row is picked by someone: the whole queue, not just its start.
    assert set().union(*places.values()) == ordinary
    assert places[3] == queue.gold_places(project, SimpleNamespace(pk=3), gold, 12).tolist()
