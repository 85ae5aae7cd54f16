"""Uploaded predictions and external services as labeling functions, applied by the real worker."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from labeling import services
from labeling.models import LabelingFunction, LFVersion
from projects.services import ServiceError
from tests.conftest import make_samples, wait_for

TEXTS = ["buy now", "hello there", "buy cheap pills", "nice song", "great", "buy buy"]


def _version(lf):
    return LFVersion.objects.get(pk=LabelingFunction.objects.get(pk=lf.pk).current_id)


def _applied(lf, status="done"):
    return wait_for(lambda: (v := _version(lf)).status == status and v, what=f"the LF to be {status}")


def test_predictions_vote_by_sample_id_and_report_unmatched_ids(worker, project, alice):
    make_samples(project, TEXTS)
    records = [{"id": "s0", "label": "SPAM"}, {"id": "s2", "label": 0}, {"id": "nope", "label": "SPAM"}]
    lf = services.create_lf(
        project=project,
        user=alice,
        name="legacy",
        kind="predictions",
        label=None,
        config={"predictions": records},
    )
    version = _applied(lf)
    assert version.config["count"] == 3
    assert version.config["unmatched"] == 1
    assert version.config["unmatched_ids"] == ["nope"]
    assert version.vote_array().tolist() == [1, -1, 0, -1, -1, -1]


def test_predictions_below_the_minimum_score_abstain(worker, project, alice):
    make_samples(project, TEXTS)
    records = [{"id": "s0", "label": "SPAM", "score": 0.9}, {"id": "s1", "label": "HAM", "score": 0.2}]
    lf = services.create_lf(
        project=project,
        user=alice,
        name="legacy",
        kind="predictions",
        label=None,
        config={"predictions": records, "min_score": 0.5},
    )
    assert _applied(lf).vote_array().tolist() == [1, -1, -1, -1, -1, -1]


def test_a_prediction_with_an_unknown_label_is_refused_and_nothing_is_created(project, alice):
    with pytest.raises(ServiceError, match="label 'EGGS' is not one of the classes"):
        services.create_lf(
            project=project,
            user=alice,
            name="legacy",
            kind="predictions",
            label=None,
            config={"predictions": [{"id": "s0", "label": "EGGS"}]},
        )
    assert not LabelingFunction.objects.exists()


class _Service:
    """A real HTTP model server on 127.0.0.1 that labels texts containing 'buy' as SPAM."""

    def __init__(self, fail_first=0, status=503):
        self.batches = []
        self.fail_first = fail_first
        self.status = status
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if owner.fail_first:
                    owner.fail_first -= 1
                    self.send_response(owner.status)
                    self.end_headers()
                    return
                owner.batches.append(body["texts"])
                answer = {"labels": ["SPAM" if "buy" in t else None for t in body["texts"]]}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/label"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def model_server():
    servers = []

    def start(**kwargs):
        server = _Service(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_service_is_asked_in_batches_and_its_answers_are_kept(worker, project, alice, model_server):
    server = model_server()
    make_samples(project, TEXTS)
    lf = services.create_lf(
        project=project,
        user=alice,
        name="model",
        kind="service",
        label=None,
        config={"url": server.url, "batch_size": 4},
    )
    assert _applied(lf).vote_array().tolist() == [1, -1, 1, -1, -1, 1]
    assert [len(b) for b in server.batches] == [4, 2]
    # New samples: only they are sent to the service; the earlier answers are reused.
    make_samples(project, ["buy again", "bye"])
    services.samples_added(project, 6, 2)
    wait_for(lambda: _version(lf).n_rows == 8 and _version(lf).status == "done", what="the re-application")
    assert _version(lf).vote_array().tolist() == [1, -1, 1, -1, -1, 1, 1, -1]
    assert server.batches[2:] == [["buy again", "bye"]]


def test_a_service_that_fails_once_is_retried(worker, project, alice, model_server):
    server = model_server(fail_first=1, status=503)
    make_samples(project, TEXTS)
    lf = services.create_lf(
        project=project, user=alice, name="model", kind="service", label=None, config={"url": server.url}
    )
    assert _applied(lf).vote_array().tolist() == [1, -1, 1, -1, -1, 1]


def test_a_service_that_refuses_marks_the_version_failed_with_its_answer(
    worker, project, alice, model_server
):
    server = model_server(fail_first=100, status=400)
    make_samples(project, TEXTS)
    lf = services.create_lf(
        project=project, user=alice, name="model", kind="service", label=None, config={"url": server.url}
    )
    failed = _applied(lf, status="failed")
    assert "answered HTTP 400" in failed.message


def test_a_service_on_a_host_that_is_not_allowed_is_refused(project, alice):
    with pytest.raises(ServiceError, match="not allowed for services"):
        services.create_lf(
            project=project,
            user=alice,
            name="model",
            kind="service",
            label=None,
            config={"url": "http://169.254.169.254/latest"},
        )
    assert not LabelingFunction.objects.exists()


def test_a_field_rule_votes_on_a_sample_field(worker, project, alice):
    from projects.models import Sample

    samples = make_samples(project, TEXTS)
    for s, likes in zip(samples, ["3", "40", "", "12", "x", "100"], strict=True):
        Sample.objects.filter(pk=s.pk).update(fields={"likes": likes})
    lf = services.create_lf(
        project=project,
        user=alice,
        name="popular",
        kind="field",
        label="HAM",
        config={"field": "likes", "op": "gt", "value": 10},
    )
    assert _applied(lf).vote_array().tolist() == [-1, 0, -1, 0, -1, 0]


def test_a_text_length_rule_counts_words(worker, project, alice):
    make_samples(project, TEXTS)
    lf = services.create_lf(
        project=project,
        user=alice,
        name="short",
        kind="field",
        label="HAM",
        config={"field": "text", "op": "word_count_lt", "value": 2},
    )
    assert _applied(lf).vote_array().tolist() == [-1, -1, -1, -1, 0, -1]


def test_a_bad_field_rule_is_refused_with_its_reason(project, alice):
    with pytest.raises(ServiceError) as info:
        services.create_lf(
            project=project,
            user=alice,
            name="bad",
            kind="field",
            label="HAM",
            config={"field": "likes", "op": "gt"},
        )
    assert info.value.field == "config"
    assert "value" in info.value.message
    assert not LabelingFunction.objects.exists()


SNORKEL_LF = """
from snorkel.labeling import labeling_function

ABSTAIN = -1
HAM = 0
SPAM = 1

@labeling_function()
def buy_is_spam(x):
    return SPAM if "buy" in x.text.lower() else ABSTAIN
"""


def test_a_pasted_snorkel_lf_runs_in_the_sandbox(worker, project, alice):
    make_samples(project, TEXTS)
    lf = services.create_lf(
        project=project, user=alice, name="snorkel", kind="code", label=None, config={"source": SNORKEL_LF}
    )
    assert _applied(lf).vote_array().tolist() == [1, -1, 1, -1, -1, 1]


def test_a_code_lf_that_raises_names_the_sample_and_line(worker, project, alice):
    make_samples(project, TEXTS)
    source = "def lf(x):\n    if 'song' in x.text:\n        return 1 / 0\n    return None\n"
    lf = services.create_lf(
        project=project, user=alice, name="boom", kind="code", label=None, config={"source": source}
    )
    failed = _applied(lf, status="failed")
    assert "s3" in failed.message
    assert "line 3" in failed.message


def test_a_code_lf_with_a_syntax_error_is_refused_at_save_time(project, alice):
    with pytest.raises(ServiceError, match="line 1"):
        services.create_lf(
            project=project,
            user=alice,
            name="bad",
            kind="code",
            label=None,
            config={"source": "def lf(x) return 1"},
        )
    assert not LabelingFunction.objects.exists()


def test_the_preview_of_a_code_lf_runs_it_on_the_samples(project, alice):
    make_samples(project, TEXTS, gold=[1, 0, 1, 0, 0, 0])
    preview = services.preview_lf(project=project, kind="code", label=None, config={"source": SNORKEL_LF})
    assert preview["hits"] == 3
    assert (preview["correct"], preview["incorrect"]) == (2, 1)
    assert {e["vote"] for e in preview["examples"]} == {"SPAM"}


def test_the_preview_of_a_field_rule_covers_the_whole_project(project, alice):
    make_samples(project, TEXTS)
    preview = services.preview_lf(
        project=project,
        kind="field",
        label="HAM",
        config={"field": "text", "op": "word_count_ge", "value": 3},
    )
    assert preview["hits"] == 1
    assert preview["examples"][0]["text"] == "buy cheap pills"


def test_a_word_list_of_100k_terms_is_applied_by_the_worker(worker, project, alice):
    words = [f"term{i}" for i in range(100_000)] + ["buy"]
    make_samples(project, [*TEXTS, "term99999 here"])
    lf = services.create_lf(
        project=project, user=alice, name="big list", kind="keyword", label="SPAM", config={"keywords": words}
    )
    assert _applied(lf).vote_array().tolist() == [1, -1, 1, -1, -1, 1, 1]


def test_a_looping_code_preview_is_stopped_quickly_and_says_so(project, alice, settings):
    settings.CHORUS_CODE_PREVIEW_TIMEOUT = 2
    make_samples(project, TEXTS)
    with pytest.raises(ServiceError, match="longer than 2"):
        services.preview_lf(
            project=project,
            kind="code",
            label=None,
            config={"source": "def lf(x):\n    while True:\n        pass\n"},
        )


def test_a_config_naming_another_projects_predictions_file_is_refused(project, alice):
    from tests.conftest import make_project

    make_samples(project, TEXTS)
    other = make_project(alice, name="other")
    make_samples(other, TEXTS)
    theirs = services.create_lf(
        project=other,
        user=alice,
        name="theirs",
        kind="predictions",
        label=None,
        config={"predictions": [{"id": "s0", "label": "SPAM"}]},
    )
    stolen = theirs.current.config["file"]
    for name in (stolen, f"predictions/{project.pk}-x/../../{stolen}"):
        with pytest.raises(ServiceError, match="not one of this project's"):
            services.create_lf(
                project=project,
                user=alice,
                name="mine",
                kind="predictions",
                label=None,
                config={"file": name},
            )


def test_an_archive_carries_predictions_as_records_not_a_file_name(project, alice):
    from labeling.archive import _portable_config

    make_samples(project, TEXTS)
    lf = services.create_lf(
        project=project,
        user=alice,
        name="legacy",
        kind="predictions",
        label=None,
        config={
            "predictions": [{"id": "s0", "label": "SPAM", "score": 0.9}, {"id": "s2", "label": "HAM"}],
            "min_score": 0.5,
        },
    )
    portable = _portable_config(lf.current, project.labels)
    assert portable == {
        "predictions": [{"id": "s0", "label": "SPAM", "score": 0.9}, {"id": "s2", "label": "HAM"}],
        "min_score": 0.5,
    }
