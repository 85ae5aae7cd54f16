"""chorus.client against a live server and the real worker: the notebook loop, from a DataFrame to labels."""

from __future__ import annotations

import pandas as pd
import pytest

from chorus.client import ChorusError, Client
from tests.conftest import make_user

SPAM = 1
HAM = 0
ABSTAIN = -1


def lf_check_out(x):
    return SPAM if "check out" in x.text.lower() else ABSTAIN


def snorkel_style():
    """A Snorkel LF as a notebook has it: decorated, using module constants and `re`."""
    from snorkel.labeling import labeling_function

    @labeling_function()
    def lf_song(x):
        return HAM if re.search(r"\bsong\b", x.text, flags=re.I) else ABSTAIN

    return lf_song


import re  # noqa: E402  (used by lf_song, as a notebook imports it in some cell)


@pytest.fixture
def client(live_server, db):
    user = make_user("nora")
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    return Client(live_server.url, token=token.key)


FRAME = pd.DataFrame(
    {
        "id": ["a", "b", "c", "d", "e", "f"],
        "text": [
            "Check out my channel",
            "great song 🎵",
            "check out this song",
            "nice voice",
            "free prize, check out my site",
            "love this song",
        ],
        "y": ["SPAM", "HAM", None, "HAM", "SPAM", "HAM"],
        "likes": [1, 20, 3, 15, 0, 30],
        "split": ["train", "train", "train", "dev", "dev", "test"],
    }
)


def test_the_notebook_loop_from_dataframe_to_probabilistic_labels(worker, client):
    project = client.create_project("Notebook", labels=["HAM", "SPAM"])
    job = project.upload(FRAME, text_field="text", id_field="id", label_field="y", split_field="split")
    assert (job["imported"], job["labels_imported"]) == (6, 5)
    project.add_lf({"name": "free", "keywords": ["free", "prize"], "label": "SPAM"})
    project.add_lf({"name": "my", "pattern": r"(?i)\bmy\b", "label": "SPAM"})
    project.add_lf(lf_check_out)
    try:
        song = snorkel_style()
    except ImportError:  # Snorkel is in the bench extra; a plain decorated function stands in for it
        song = None
    if song is not None:
        project.add_lf(song)
    assert sorted(lf["kind"] for lf in project.lfs()) == sorted(
        ["keyword", "regex", "code"] + (["code"] if song is not None else [])
    )
    run = project.refit()
    assert run["status"] == "done"
    labels = project.labels()
    assert list(labels["external_id"]) == list(FRAME["id"])
    assert list(labels["text"]) == list(FRAME["text"])
    assert {"probability_HAM", "probability_SPAM", "confidence", "predicted_label", "likes"} <= set(labels)
    voted = labels["probability_HAM"].notna()
    sums = labels["probability_HAM"][voted] + labels["probability_SPAM"][voted]
    assert voted.sum() >= 3 and ((sums - 1).abs() < 1e-5).all()
    # A sample no LF votes on has no probabilities (the prior is not a prediction), and no label.
    assert labels.loc[~voted, "predicted_label"].isna().all()
    assert labels.loc[labels.external_id == "a", "predicted_label"].item() == "SPAM"
    assert list(labels["likes"]) == [1, 20, 3, 15, 0, 30]
    dev = project.labels(split="dev")
    assert list(dev["external_id"]) == ["d", "e"]
    hand = project.hand_labels()
    assert len(hand) == 5 and set(hand["source"]) == {"import"}


def test_a_list_of_dicts_uploads_too_and_errors_carry_the_servers_message(worker, client):
    project = client.create_project("Dicts", labels=["HAM", "SPAM"])
    job = project.upload([{"text": "one"}, {"text": "two"}], text_field="text")
    assert job["imported"] == 2
    with pytest.raises(ChorusError) as exc:
        project.upload([{"text": "three", "label": "EGGS"}], text_field="text", label_field="label")
    assert "'EGGS' is not one of the project's classes" in exc.value.message
    assert exc.value.errors[0]["line"] == 1
    with pytest.raises(ChorusError) as exc:
        project.add_lf({"name": "bad", "pattern": "(", "label": "SPAM"})
    assert exc.value.status == 400 and exc.value.field


def test_a_bad_token_is_refused(live_server, db):
    with pytest.raises(ChorusError) as exc:
        Client(live_server.url, token="not-a-token").projects()
    assert exc.value.status == 401
