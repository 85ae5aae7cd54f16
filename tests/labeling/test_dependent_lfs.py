"""The dashboard says when the label model counted an LF once (an exact copy) or did not read a pair's
agreement as accuracy (an LF voting with another far beyond chance), next to the learned accuracies."""

import re

import numpy as np
import pytest
from django.urls import reverse

from labeling import services
from tests.conftest import make_samples
from tests.labeling.helpers import apply_and_refit

SPAM_WORDS = ["subscribe", "check", "channel"]
HAM_WORDS = ["song", "love", "great"]


def texts_and_gold(n=800, seed=0):
    """Each spam text holds each spam word with 30 % chance and each ham word with 4 % (and the other way
    round): LFs keyed on the words are independent given the class. "visit" marks a few texts anywhere."""
    rng = np.random.default_rng(seed)
    texts, gold = [], []
    for _ in range(n):
        spam = bool(rng.random() < 0.5)
        mine, other = (SPAM_WORDS, HAM_WORDS) if spam else (HAM_WORDS, SPAM_WORDS)
        words = [w for w in mine if rng.random() < 0.3] + [w for w in other if rng.random() < 0.04]
        if rng.random() < 0.03:
            words.append("visit")
        texts.append(" ".join(["text"] + words))
        gold.append(1 if spam else 0)
    return texts, gold


def keyword(project, user, name, label, words):
    services.create_lf(
        project=project, user=user, name=name, kind="keyword", label=label, config={"keywords": words}
    )


@pytest.fixture
def run(project, alice):
    texts, gold = texts_and_gold()
    make_samples(project, texts, gold=None)
    for w in SPAM_WORDS:
        keyword(project, alice, w, "SPAM", [w])
    for w in HAM_WORDS:
        keyword(project, alice, w, "HAM", [w])
    # The same votes as "subscribe" (a regex rewriting the keyword), and "check" with a few more.
    services.create_lf(
        project=project,
        user=alice,
        name="subscribe again",
        kind="regex",
        label="SPAM",
        config={"pattern": r"\bsubscribe\b"},
    )
    keyword(project, alice, "check or visit", "SPAM", ["check", "visit"])
    return apply_and_refit(project)


def _row(html, lf_id):
    row = re.search(rf'<tr id="lf-stat-{lf_id}">(.*?)</tr>', html, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", row).split())


def test_copies_and_pairs_voting_together_are_named_on_the_dashboard(client, project, dana, run):
    by_name = {s["name"]: s for s in run.lf_stats}
    assert run.model["chosen"] == "matrix_completion", run.model["reason"]
    assert by_name["subscribe again"]["copy_of"] == "subscribe"
    assert by_name["check or visit"]["votes_with"] == ["check"]
    assert by_name["check"]["votes_with"] == ["check or visit"]
    # The independent LFs are neither.
    for name in ["channel", "song", "love", "great"]:
        assert by_name[name]["copy_of"] is None and by_name[name]["votes_with"] == []

    client.force_login(dana)
    html = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert "votes exactly like “subscribe”: counted once" in _row(html, by_name["subscribe again"]["lf"])
    assert "votes with “check” far beyond chance: their agreement is not taken for accuracy" in _row(
        html, by_name["check or visit"]["lf"]
    )
    assert "far beyond chance" not in _row(html, by_name["song"]["lf"])


def test_the_pair_does_not_inflate_the_learned_accuracies(run):
    # Right answers: each word LF is right about 0.3 / (0.3 + 0.04) = 88 % of the time it votes.
    by_name = {s["name"]: s for s in run.lf_stats}
    for name in ["check", "check or visit", "channel", "song"]:
        assert 0.8 < by_name[name]["learned_accuracy"] < 0.95, (name, by_name[name]["learned_accuracy"])


def test_a_class_no_lf_votes_changes_nothing_and_the_dashboard_says_so(
    client, project, alice, dana, run, django_capture_on_commit_callbacks
):
    from labeling.models import LabelModelRun
    from tests.conftest import token_client

    before = {s["name"]: s["learned_accuracy"] for s in run.lf_stats}
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(alice).patch(
            f"/api/projects/{project.pk}/", {"labels": ["HAM", "SPAM", "OFFTOPIC"]}, format="json"
        )
    assert response.status_code == 200, response.content
    after = apply_and_refit(project)
    assert after.pk != run.pk and LabelModelRun.objects.filter(project=project, status="done").count() == 2
    # Fitted on HAM and SPAM as before: the same learned accuracies, OFFTOPIC at probability 0.
    assert {s["name"]: s["learned_accuracy"] for s in after.lf_stats} == pytest.approx(before)
    assert after.model["unvoted_classes"] == [2]
    proba = after.probability_array()
    assert proba.shape[1] == 3 and (proba[:, 2] == 0).all()
    client.force_login(dana)
    html = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert "No labeling function votes OFFTOPIC yet: the label model leaves it out (probability 0)" in html


def test_an_lf_on_every_sample_and_one_worse_than_chance_are_pointed_out(client, project, alice, dana):
    texts, gold = texts_and_gold(n=300, seed=4)
    make_samples(project, texts, gold=gold)
    for w in SPAM_WORDS:
        keyword(project, alice, w, "SPAM", [w])
    keyword(project, alice, "song", "HAM", ["song"])
    # Every text starts with "text"; "love" is a ham word voted SPAM here.
    keyword(project, alice, "everything", "SPAM", ["text"])
    keyword(project, alice, "love as spam", "SPAM", ["love"])
    run = apply_and_refit(project)
    by_name = {s["name"]: s for s in run.lf_stats}
    # (It is also wrong on the half of the samples that are ham, which is said too.)
    assert by_name["everything"]["warnings"][0] == (
        "votes SPAM on every sample: that says nothing about any one sample, and the label model learns "
        "nothing from it"
    )
    (worse,) = by_name["love as spam"]["warnings"]
    assert worse.startswith("wrong more often than right on the hand-labeled samples it votes on (")
    assert by_name["song"]["warnings"] == [] and by_name["check"]["warnings"] == []
    client.force_login(dana)
    html = client.get(reverse("dashboard", args=[project.pk])).content.decode()
    assert "check the class it votes" in _row(html, by_name["love as spam"]["lf"])
