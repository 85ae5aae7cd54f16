"""schemathesis against the OpenAPI schema at /api/schema/, with a token, over a live server: no 500s.

Each operation gets a bounded number of generated requests, half of them aimed at objects that exist (a
project with samples, an import, an LF, a run), so the handlers behind the 404s are exercised too.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.openapi import from_dict

from labeling import services as labeling_services
from labeling.models import LabelModelRun
from projects.models import ImportJob
from tests.conftest import make_project, make_samples, make_user, token_client, wait_for

EXAMPLES = 6
# The whole walk stays well inside the suite's budget.
BUDGET_SECONDS = 80


@pytest.fixture
def world(live_server, worker):
    owner = make_user("fuzz")
    project = make_project(owner, name="Fuzz")
    make_samples(project, ["check out my channel", "great song", "my song"], splits=["train", "dev", "test"])
    lf = labeling_services.create_lf(
        project=project, user=owner, name="my", kind="regex", label="SPAM", config={"pattern": "my"}
    )
    # The real worker applies the LF and refits (whether or not other tests left it running).
    run = wait_for(
        lambda: LabelModelRun.objects.filter(project=project, status="done").first(),
        timeout=90,
        what="the refit",
    )
    job = ImportJob.objects.create(
        project=project, created_by=owner, filename="x.csv", options={"text_field": "t"}
    )
    client = token_client(owner)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    token = client._credentials["HTTP_AUTHORIZATION"]
    ids = {"projects": project.pk, "imports": job.pk, "lfs": lf.pk, "runs": run.pk}
    return live_server.url, schema, token, ids


def _aim(ids: dict):
    def fix(case):
        first = case.operation.path.strip("/").split("/")[1]  # api/<resource>/{pk}/...
        if case.path_parameters and first in ids:
            for key in case.path_parameters:
                case.path_parameters[key] = ids[first]
        return case

    return fix


def test_the_api_answers_generated_requests_without_a_server_error(world):
    base_url, raw, token, ids = world
    schema = from_dict(raw)
    session = requests.Session()
    failures: list[str] = []
    statuses: list[int] = []
    began = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20, "the schema lists the API"
    for operation in operations:
        if time.monotonic() - began > BUDGET_SECONDS:
            break
        strategy = operation.as_strategy()
        if re.search(r"\{\w+\}", operation.path):
            strategy = st.one_of(strategy, strategy.map(_aim(ids)))

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case):
            response = case.call(
                base_url=base_url, session=session, headers={"Authorization": token}, timeout=20
            )
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
                )

        check()
    session.close()
    assert failures == []
    assert time.monotonic() - began < 90
    # The walk reached the handlers: successes on the real objects, refusals of the generated junk.
    assert len(statuses) > 100 and sum(200 <= s < 300 for s in statuses) > 10
    assert {400, 404} <= set(statuses)
