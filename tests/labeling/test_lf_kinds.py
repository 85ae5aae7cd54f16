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
        project=project, user=alice, name="legacy", kind="predictions", label=None, config={"predictions": records}
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
        project=project, user=alice, name="model", kind="service", label=None,
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


def test_a_service_that_refuses_marks_the_version_failed_with_its_answer(worker, project, alice, model_server):
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
            project=project, user=alice, name="model", kind="service", label=None,
            config={"url": "http://169.254.169.254/latest"},
        )
    assert not LabelingFunction.objects.exists()
