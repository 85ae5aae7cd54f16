"""Gold checks: marked by admins (page and API), mixed unannounced into every annotator's queue at the rate
the project sets, once per annotator whatever the overlap, never shown to an annotator as a check."""

import re

import pytest
from django.urls import reverse

from projects import checks, quality, queue, services
from projects.models import AuditEvent, Sample
from tests.conftest import (
    _uses_postgres,
    add_member,
    make_project,
    make_samples,
    make_user,
    need,
    token_client,
)


@pytest.fixture
def frank(project):
    user = make_user("frank")
    add_member(project, user, "annotator")
    return user


def _work(project, user, count, label=0) -> list[Sample]:
    """Ask the queue and label what it gives, `count` times; the samples given, in order."""
    given = []
    for _ in range(count):
        sample = queue.claim_next(project, user)
        if sample is None:
            break
        given.append(sample)
        services.annotate(project=project, sample=sample, user=user, label=label)
    return given


def test_marking_a_check_takes_the_given_answer_or_the_gold_label(project, alice):
    s0, s1, s2 = make_samples(project, ["a", "b", "c"], gold=[None, 1, None])
    checks.mark_checks(project=project, items=[(s0, 0), (s1, None)], by=alice)
    s0.refresh_from_db()
    s1.refresh_from_db()
    assert (s0.check_label, s0.gold_label, s0.queued) == (0, 0, False)
    assert (s1.check_label, s1.gold_label) == (1, 1)
    with pytest.raises(services.ServiceError, match="sample s2 has no gold label"):
        checks.mark_checks(project=project, items=[(s2, None)], by=alice)
    event = AuditEvent.objects.get(project=project, action="check.marked")
    assert event.details["count"] == 2 and event.details["samples"] == ["s0", "s1"]
    checks.unmark_checks(project=project, samples=[s0], by=alice)
    s0.refresh_from_db()
    assert (s0.check_label, s0.gold_label, s0.queued) == (None, None, True)
    # A check may not contradict a gold label the sample already has; nothing of the batch is marked.
    s3, s4 = make_samples(project, ["d", "e"], gold=[1, None])
    with pytest.raises(
        services.ServiceError, match="sample s3 already has the gold label SPAM; a check answering HAM"
    ):
        checks.mark_checks(project=project, items=[(s4, 0), (s3, 0)], by=alice)
    s3.refresh_from_db()
    s4.refresh_from_db()
    assert (s3.check_label, s3.gold_label, s4.check_label) == (None, 1, None)
    # An existing check's answer may be changed.
    checks.mark_checks(project=project, items=[(s0, 1)], by=alice)
    s0.refresh_from_db()
    assert (s0.check_label, s0.gold_label) == (1, 1)
    checks.mark_checks(project=project, items=[(s0, 0)], by=alice)
    s0.refresh_from_db()
    assert (s0.check_label, s0.gold_label) == (0, 0)


def test_a_check_comes_once_in_each_block_at_the_seeded_place(project, alice, charlie):
    services.update_workflow(project=project, check_every=4)
    samples = make_samples(project, [f"t{i}" for i in range(20)])
    check_samples = samples[:3]
    checks.mark_checks(project=project, items=[(s, 1) for s in check_samples], by=alice)
    given = _work(project, charlie, 12)
    places = [i for i, s in enumerate(given) if s.check_label is not None]
    expected = [4 * b + queue.check_place(project, charlie, b) for b in range(3)]
    assert places == expected
    assert sorted(given[i].pk for i in places) == sorted(s.pk for s in check_samples)
    # Each check once: after the three, the blocks have none left to give.
    more = _work(project, charlie, 8)
    assert all(s.check_label is None for s in more)
    assert len({s.pk for s in given + more}) == len(given + more)


def test_every_annotator_gets_each_check_whatever_the_overlap(project, alice, charlie, frank):
    services.update_workflow(
        project=project, check_every=1
    )  # every sample given is a check while any is left
    samples = make_samples(project, [f"t{i}" for i in range(6)])
    checks.mark_checks(project=project, items=[(samples[0], 1), (samples[1], 0)], by=alice)
    for user in (charlie, frank):
        given = _work(project, user, 2)
        assert {s.pk for s in given} == {samples[0].pk, samples[1].pk}
    s0 = Sample.objects.get(pk=samples[0].pk)
    assert s0.gold_label == 1 and not s0.queued and not s0.disputed  # charlie and frank both said 0
    # The overlap queue (overlap 1) goes on with the other samples.
    assert [s.row for s in _work(project, charlie, 4)] == [2, 3, 4, 5]


def test_no_checks_when_the_project_turns_them_off(project, alice, charlie):
    services.update_workflow(project=project, check_every=0)
    samples = make_samples(project, [f"t{i}" for i in range(4)])
    checks.mark_checks(project=project, items=[(samples[0], 1)], by=alice)
    assert [s.row for s in _work(project, charlie, 5)] == [1, 2, 3]


def _marks(text: str) -> int:
    return len(re.findall(r"check|gold", text, re.I))


def test_an_annotator_cannot_tell_a_check_from_any_other_sample(client, project, alice, charlie):
    """The label page, its htmx card, the queue API and the project API answer alike for a check."""
    services.update_workflow(project=project, check_every=1)
    check, plain = make_samples(project, ["first text", "second text"])
    checks.mark_checks(project=project, items=[(check, 1)], by=alice)
    client.force_login(charlie)
    api = token_client(charlie)
    pages = {}
    for name in ("check", "plain"):
        page = client.get(reverse("label", args=[project.pk])).content.decode()
        card = client.get(reverse("label", args=[project.pk]), HTTP_HX_REQUEST="true").content.decode()
        sample = api.post(reverse("api_queue_next", args=[project.pk])).json()
        pages[name] = (page, card, sample)
        services.annotate(project=project, sample=Sample.objects.get(pk=sample["id"]), user=charlie, label=0)
    assert pages["check"][2]["id"] == check.pk and pages["plain"][2]["id"] == plain.pk
    for i in range(2):
        assert _marks(pages["check"][i]) == _marks(pages["plain"][i])
    assert set(pages["check"][2]) == set(pages["plain"][2])
    assert "check" not in str(pages["check"][2]).lower()
    detail = api.get(reverse("api_project", args=[project.pk])).json()
    assert "check_every" not in detail and "annotators_as_sources" not in detail
    assert token_client(alice).get(reverse("api_project", args=[project.pk])).json()["check_every"] == 1
    # My own labels list says nothing of the check either.
    mine = api.get(reverse("api_project_annotations", args=[project.pk])).json()["results"]
    assert {tuple(sorted(a)) for a in mine} == {tuple(sorted(mine[0]))}
    assert "check" not in str(mine).lower()


def test_the_checks_page_marks_by_external_id_and_lists_answers(client, project, alice, charlie, frank):
    samples = make_samples(project, ["a", "b", "c"], gold=[None, 1, None])
    client.force_login(alice)
    url = reverse("gold_checks", args=[project.pk])
    bad = client.post(url, {"samples": "s0, SPAM\nnope"})
    assert bad.status_code == 422 and "line 2: there is no sample" in bad.content.decode()
    assert not Sample.objects.filter(project=project, check_label__isnull=False).exists()
    wrong = client.post(url, {"samples": "s0, MAYBE"})
    assert "line 1: &#x27;MAYBE&#x27; is not one of the classes" in wrong.content.decode()
    response = client.post(url, {"samples": "s0, SPAM\ns1"}, follow=True)
    assert "Marked 2 samples as gold checks" in response.content.decode()
    services.annotate(project=project, sample=samples[0], user=charlie, label=1)
    services.annotate(project=project, sample=samples[0], user=frank, label=0)
    html = client.get(url).content.decode()
    assert "2 gold checks" in html
    row = re.search(r'<th scope="row">s0</th>.*?</tr>', html, re.S).group(0)
    assert '<td>SPAM</td><td class="num">2</td><td class="num">1</td>' in row
    client.post(url, {"unmark": "1", "sample": samples[0].pk})
    assert list(
        Sample.objects.filter(project=project, check_label__isnull=False).values_list("row", flat=True)
    ) == [1]


def test_the_checks_page_reports_every_bad_line_and_marks_none(client, project, alice):
    make_samples(project, ["a", "b", "c", "d", "e"], gold=[None, 1, None, None, None])
    client.force_login(alice)
    pasted = "s0, SPAM\nnope\n\ns1, HAM\ns2\ns3, MAYBE\ns0, HAM\ns4, SPAM"
    response = client.post(reverse("gold_checks", args=[project.pk]), {"samples": pasted})
    assert response.status_code == 422
    html = response.content.decode()
    box = re.search(r'<div class="error" role="alert" id="check-problems">(.*?)</div>', html, re.S)[1]
    assert "Nothing marked: 5 lines have problems." in box
    assert re.findall(r"<li>(.*?)</li>", box) == [
        "line 2: there is no sample &#x27;nope&#x27; in this project",
        "line 4: sample s1 already has the gold label SPAM; a check answering HAM would replace it. Give SPAM "
        "(or no label, to use its gold), or correct its gold first",
        "line 5: sample s2 has no gold label; give its known answer",
        "line 6: &#x27;MAYBE&#x27; is not one of the classes (HAM, SPAM)",
        "line 7: sample &#x27;s0&#x27; is on line 1 too",
    ]
    # All or nothing: the good lines (1 and 8) are not marked either, and the text is kept to correct.
    assert not Sample.objects.filter(project=project, check_label__isnull=False).exists()
    assert not AuditEvent.objects.filter(project=project, action="check.marked").exists()
    assert "nope\n\ns1, HAM" in html


def test_the_checks_api_marks_lists_and_unmarks(project, alice, bob):
    samples = make_samples(project, ["a", "b", "c"], gold=[None, 1, None])
    api = token_client(alice)
    url = reverse("api_project_checks", args=[project.pk])
    refused = api.post(url, {"samples": [{"sample": "s2"}]}, format="json")
    assert refused.status_code == 400 and "no gold label" in refused.content.decode()
    bad = api.post(url, {"samples": [{"sample": "s0", "label": "MAYBE"}]}, format="json")
    assert bad.status_code == 400 and "MAYBE" in bad.content.decode()
    done = api.post(
        url, {"samples": [{"sample": "s0", "label": "HAM"}, {"sample": samples[1].pk}]}, format="json"
    )
    assert done.status_code == 201 and done.json() == {"marked": 2}
    listed = api.get(url).json()["results"]
    assert [(c["external_id"], c["label"]) for c in listed] == [("s0", "HAM"), ("s1", "SPAM")]
    assert token_client(bob).get(url).status_code == 403
    one = reverse("api_project_check", args=[project.pk, samples[0].pk])
    assert api.get(one).json()["label"] == "HAM"
    assert api.delete(one).status_code == 204
    assert api.get(one).status_code == 404


def test_the_check_rate_is_a_workflow_setting(client, project, alice):
    client.force_login(alice)
    url = reverse("workflow", args=[project.pk])
    form = {"overlap": "1", "queue_order": "row", "skip_reasons": "", "check_every": "5", "blind": "on"}
    assert client.post(url, form).status_code == 302
    project.refresh_from_db()
    assert project.check_every == 5 and not project.annotators_as_sources
    bad = client.post(url, {**form, "check_every": "-3"})
    assert bad.status_code == 422 and "check_every must be a whole number" in bad.content.decode()
    client.post(url, {**form, "annotators_as_sources": "on"})
    project.refresh_from_db()
    assert project.annotators_as_sources
    event = AuditEvent.objects.filter(project=project, action="setting.changed").first()
    assert event.details["annotators_as_sources"] == {"old": False, "new": True}


def test_an_excluded_annotators_check_answers_leave_gold_alone(project, alice, charlie):
    services.update_workflow(project=project, check_every=1)
    (s0,) = make_samples(project, ["a"])
    checks.mark_checks(project=project, items=[(s0, 1)], by=alice)
    _work(project, charlie, 1, label=0)
    checks.exclude_annotator(project=project, annotator=charlie, by=alice)
    s0.refresh_from_db()
    assert s0.gold_label == 1 and not s0.queued
    row = quality.annotator_quality(project)[0]
    assert (row["checks_answered"], row["checks_correct"], row["excluded"]) == (1, 0, True)


# --- real concurrency on PostgreSQL ---------------------------------------------------------------------------


def test_annotators_asking_at_once_for_checks_never_hold_the_same_one(transactional_db):
    from tests.projects.test_queue import THREADS, _in_threads

    need(_uses_postgres(), "PostgreSQL (DATABASE_URL=postgres://…)")
    owner = make_user("owner")
    project = make_project(owner)
    users = [make_user(f"annotator{i}") for i in range(THREADS)]
    for user in users:
        add_member(project, user, "annotator")
    services.update_workflow(project=project, check_every=1)
    samples = make_samples(project, [f"t{i}" for i in range(THREADS * 2)])
    checks.mark_checks(project=project, items=[(s, 0) for s in samples[:THREADS]], by=owner)
    project.refresh_from_db()
    check_ids = {s.pk for s in samples[:THREADS]}
    answered_by = {user.pk: set() for user in users}
    for round_ in range(2):
        claimed = _in_threads(lambda i: queue.claim_next(project, users[i]).pk)
        assert len(set(claimed)) == THREADS, f"round {round_}: {claimed}"
        if round_ == 0:
            assert set(claimed) <= check_ids  # each got a check: enough for all
        for user, pk in zip(users, claimed, strict=True):
            # Never a check this annotator answered already. (In the second round one may find every check
            # still open to them held by the others at that instant, and get an ordinary sample: by design.)
            assert pk not in answered_by[user.pk]
            if pk in check_ids:
                answered_by[user.pk].add(pk)
            services.annotate(project=project, sample=Sample.objects.get(pk=pk), user=user, label=0)
    answered = quality.annotator_quality(project)
    by_name = {q["annotator"]: q["checks_answered"] for q in answered}
    assert by_name == {u.username: len(answered_by[u.pk]) for u in users}


def test_the_api_changes_the_check_rate_and_the_sources_switch(project, alice, bob):
    url = reverse("api_project", args=[project.pk])
    api = token_client(alice)
    response = api.patch(url, {"check_every": 20, "annotators_as_sources": True}, format="json")
    assert response.status_code == 200
    assert response.json()["check_every"] == 20 and response.json()["annotators_as_sources"] is True
    bad = api.patch(url, {"check_every": 5000}, format="json")
    assert bad.status_code == 400 and "check_every must be a whole number from 0" in bad.content.decode()
    project.refresh_from_db()
    assert project.check_every == 20
    assert token_client(bob).patch(url, {"check_every": 1}, format="json").status_code == 403


def test_a_due_check_costs_a_bounded_number_of_queries(
    project, alice, charlie, django_assert_max_num_queries
):
    services.update_workflow(project=project, check_every=1)
    samples = make_samples(project, [f"t{i}" for i in range(30)])
    checks.mark_checks(project=project, items=[(s, 0) for s in samples[:10]], by=alice)
    project.refresh_from_db()
    for _ in range(3):
        with django_assert_max_num_queries(12):
            given = queue.claim_next(project, charlie)
        assert given.check_label is not None
        services.annotate(project=project, sample=given, user=charlie, label=0)


def test_the_checks_api_names_every_bad_item_and_marks_none(project, alice):
    make_samples(project, ["a", "b", "c"], gold=[None, 1, None])
    api = token_client(alice)
    url = reverse("api_project_checks", args=[project.pk])
    items = [
        {"sample": "s0", "label": "HAM"},  # fine on its own
        {"sample": "s2"},  # no gold label and no answer
        {"sample": "nope"},  # no such sample
        {"sample": "s1", "label": "MAYBE"},  # not a class
    ]
    refused = api.post(url, {"samples": items}, format="json")
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "3 of 4 item(s)" in message
    assert "samples[1]: sample s2 has no gold label" in message
    assert "samples[2]: there is no sample with external id 'nope'" in message
    assert "samples[3]: label 'MAYBE' is not one of the project's classes" in message
    assert "samples[0]" not in message
    assert api.get(url).json()["results"] == []
