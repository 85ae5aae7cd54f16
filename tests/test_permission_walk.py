"""The permission walk: every URL pattern, for every role, an outsider and an anonymous visitor.

Each pattern's kwargs are filled from one project with one member per role, its samples, LFs, a finished
label-model run, an import job, an invitation and a token. Every URL is fetched as each persona, as a page
and as an htmx request (the fragment), and the answer must be the one in TABLE. Roles that may not change
anything also POST (or PATCH/DELETE on the API) to every endpoint that writes, and must be refused.

A URL pattern without a row in TABLE fails: add a row for it, with the answer each role should get.
"""

from __future__ import annotations

import html
import os
import re

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from labeling import services as lf_services
from labeling.models import ExportJob, RestoreJob
from projects import checks, invitations, services, tokens
from projects.models import ImportJob, Membership
from tests.conftest import add_member, make_project, make_samples, make_user
from tests.labeling.helpers import apply_and_refit

# The personas, in the order of each row's answers.
PERSONAS = ("admin", "developer", "reviewer", "annotator", "viewer", "outsider", "anonymous")
ROLES = PERSONAS[:5]

# URL prefixes the walk leaves out, and why.
SKIPPED_PREFIXES = (
    # Django's admin site: it is for site staff (is_staff), checked by Django itself, not by project roles.
    "admin/",
    # Static and media files (served by WhiteNoise or the web server in front) hold no project data.
    "static/",
    "media/",
)


def walk_patterns(resolver=None, prefix: str = "", namespace: str = ""):
    """(name, route) of every URL pattern, however deeply included."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if route.startswith(SKIPPED_PREFIXES):
            continue
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk_patterns(entry, route, ns)
        elif isinstance(entry, URLPattern):
            yield (f"{namespace}{entry.name}" if entry.name else None), route


# --- the world the walk fills kwargs from ----------------------------------------------------------------------


@pytest.fixture
def world(db):
    users = {
        "admin": make_user("alice"),
        "developer": make_user("bob"),
        "reviewer": make_user("rita"),
        "annotator": make_user("charlie"),
        "viewer": make_user("dana"),
        "outsider": make_user("eve"),
    }
    project = make_project(users["admin"], instructions="Mark ads as SPAM.")
    for role in ROLES[1:]:
        add_member(project, users[role], role)
    samples = make_samples(
        project,
        ["check my channel", "great song", "subscribe to my page", "love it", "my video", "nice tune"],
        splits=["train", "train", "dev", "dev", "test", "test"],
        gold=[1, 0, 1, 0, 1, 0],
    )
    services.annotate(project=project, sample=samples[0], user=users["annotator"], label=1)
    services.add_comment(project=project, sample=samples[0], user=users["annotator"], text="an ad")
    lf = lf_services.create_lf(
        project=project,
        user=users["developer"],
        name="zebra-my",
        kind="regex",
        label="SPAM",
        config={"pattern": "my"},
    )
    lf_services.create_lf(
        project=project,
        user=users["developer"],
        name="zebra-song",
        kind="keyword",
        label="HAM",
        config={"keywords": ["song"]},
    )
    run = apply_and_refit(project)
    job = ImportJob.objects.create(
        project=project, created_by=users["developer"], filename="c.csv", options={}
    )
    export = ExportJob.objects.create(
        project=project, created_by=users["developer"], format="parquet", status="done", run=run
    )
    export.file.save("walk.parquet", ContentFile(b"PAR1"), save=True)
    # A gold check (s1, whose known answer is its gold label): the checks pages list it.
    checks.mark_checks(project=project, items=[(samples[1], None)], by=users["admin"])
    restore = RestoreJob.objects.create(created_by=users["admin"], filename="a.chorus.zip", status="failed")
    invitation = invitations.create_invitation(project=project, by=users["admin"], role="viewer")
    api_token, _ = tokens.create_token(user=users["admin"], name="walk")
    values = {
        "pk": project.pk,
        "project": project.pk,
        "lf_id": lf.pk,
        "lf": lf.pk,
        "sample_id": samples[0].pk,
        "sample": samples[0].pk,
        "check": samples[1].pk,
        # A class of the project (the rename pages and API act on it).
        "index": 1,
        "row": samples[0].row,
        "job_id": job.pk,
        "job": job.pk,
        "run_id": run.pk,
        "run": run.pk,
        "export": export.pk,
        # A restore is its uploader's alone (alice, the admin here); nobody else sees it.
        "restore": restore.pk,
        # The annotator's membership: the member pages and API act on it.
        "user_id": users["annotator"].pk,
        "member": Membership.objects.get(project=project, user=users["annotator"]).pk,
        "invitation_id": invitation.pk,
        "invitation_token": invitation.token,
        # An import's mapping step is keyed by an upload staged in the uploader's session; none is here.
        "token": "no-such-upload",
        "token_id": api_token.pk,
        "uidb64": urlsafe_base64_encode(force_bytes(users["admin"].pk)),
    }
    return {"users": users, "project": project, "values": values}


# --- the walk --------------------------------------------------------------------------------------------------


def _clients(world, client_class):
    clients = {}
    for persona in PERSONAS:
        client = client_class()
        if persona != "anonymous":
            client.force_login(world["users"][persona])
        clients[persona] = client
    return clients


# A kwarg of a route (path(): <int:pk>) or of a regex (re_path(): (?P<pk>...)).
KWARG = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")


def _url(name: str, route: str, row: dict, values: dict) -> str:
    kwargs = {}
    for groups in KWARG.findall(route):
        kwarg = groups[0] or groups[1]
        key = row.get("kwargs", {}).get(kwarg, kwarg)
        assert key in values, f"{name}: no fixture value for the kwarg {kwarg!r}; add one to world()"
        kwargs[kwarg] = values[key]
    url = reverse(name, kwargs=kwargs)
    return url + ("?" + row["query"] if row.get("query") else "")


def _send(client, method: str, url: str, htmx: bool = False):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    if method == "get":
        return client.get(url, **headers)
    if method == "post":
        return client.post(url, {}, **headers)
    return getattr(client, method)(url, data="{}", content_type="application/json", **headers)


def _check(problems, name, method, persona, want, response, page_code=None):
    code = str(response.status_code)
    where = f"{name} {method.upper()} as {persona}"
    if page_code is not None:
        if code == "200" and response.has_header("HX-Redirect"):
            code = "302"  # htmx's own redirect: the whole page moves, as the page's 302 moves it
        if code != page_code:
            problems.append(f"{where}: the htmx request answers {code}, the page {page_code}")
        return code
    if code != want:
        problems.append(f"{where} ({response.request['PATH_INFO']}): {code}, the table says {want}")
    if code == "302" and persona == "anonymous":
        if not response["Location"].startswith(reverse("login")):
            problems.append(f"{where}: redirected to {response['Location']}, not to sign in")
    elif method != "get" and want[0] in "23":
        problems.append(f"{where}: a write by a role that may not must be refused, not {want}")
    return code


def test_every_url_answers_each_role_as_the_table_says(world):
    from django.test import Client

    clients = _clients(world, Client)
    discover = bool(os.environ.get("WALK_REPORT"))  # print what each URL answers, to write or review rows
    seen, problems, report = set(), [], []
    for name, route in walk_patterns():
        if name is None:
            problems.append(f"the URL pattern {route!r} has no name: name it and add a row for it")
            continue
        seen.add(name)
        row = TABLE.get(name)
        if row is None:
            problems.append(f"add a row for {name} ({route})")
            if not discover:
                continue
            row = {"get": " ".join(["?"] * len(PERSONAS))}
        url = _url(name, route, row, world["values"])
        for method in ("get", "post", "patch", "delete"):
            if row.get(method) is None:
                continue
            expected = row[method].split()
            assert len(expected) == len(PERSONAS), f"{name} {method}: one answer per persona {PERSONAS}"
            got = []
            for persona, want in zip(PERSONAS, expected, strict=True):
                if want == "-":  # a role allowed to write: not sent, so the walk changes nothing
                    got.append("-")
                    continue
                code = _check(problems, name, method, persona, want, _send(clients[persona], method, url))
                got.append(code)
                if method == "get" and row.get("htmx", True):
                    htmx = _send(clients[persona], method, url, htmx=True)
                    _check(problems, name, method, persona, want, htmx, page_code=code)
            report.append(f'"{name}": {method} "{" ".join(got)}"')
    stale = sorted(set(TABLE) - seen)
    problems += [f"the table has a row for {name}, which is no URL pattern any more" for name in stale]
    if discover:
        print("\n".join(report))
    assert not problems, "\n".join(problems)


# Pattern name -> the answer per persona, in the order of PERSONAS:
#   admin developer reviewer annotator viewer outsider anonymous
# "get" is asked of everyone (as a page and as an htmx request). "post", "patch" and "delete" are sent only
# by the personas that must be refused ("-" marks those allowed, which the walk does not send, so it changes
# nothing): members lacking the role get 403, outsiders 404 (a project's existence is private too),
# anonymous visitors are sent to sign in (pages, 302) or told to authenticate (API, 401).
# 405 is the answer to a method the URL does not take; it says nothing of the project.
# Row options: kwargs (which fixture value fills a kwarg), query (a query string the page needs), htmx.
TABLE: dict[str, dict] = {
    # --- signing in and out, password reset: Django's views, open to everyone --------------------------------
    "login": {"get": "200 200 200 200 200 200 200"},
    "logout": {"get": "405 405 405 405 405 405 405"},  # POST only (Django 5), for anyone signed in
    "password_reset": {"get": "200 200 200 200 200 200 200"},
    "password_reset_done": {"get": "200 200 200 200 200 200 200"},
    # A made-up token: the page says the link is not valid (a real one redirects to the form, see test_accounts).
    "password_reset_confirm": {"get": "200 200 200 200 200 200 200"},
    "password_reset_complete": {"get": "200 200 200 200 200 200 200"},
    "password_change": {"get": "200 200 200 200 200 200 302"},
    "password_change_done": {"get": "200 200 200 200 200 200 302"},
    # --- my account: API tokens are each user's own -------------------------------------------------------------
    "api_tokens": {"get": "200 200 200 200 200 200 302", "post": "- - - - - - 302"},
    # The walk's token is the admin's: to anyone else it does not exist.
    "api_token_revoke": {"get": "405 405 405 405 405 405 302", "post": "- 404 404 404 404 404 302"},
    # Only one's own sign-in token; the walk's personas have none, so 404.
    "api_sign_in_token_revoke": {"get": "405 405 405 405 405 405 302", "post": "- 404 404 404 404 404 302"},
    # --- projects -----------------------------------------------------------------------------------------------------
    "project_list": {"get": "200 200 200 200 200 200 302"},
    "project_create": {"get": "200 200 200 200 200 200 302", "post": "- - - - - - 302"},
    "restore_project": {"get": "200 200 200 200 200 200 302", "post": "- - - - - - 302"},
    "restore_job": {"get": "200 404 404 404 404 404 302", "kwargs": {"job_id": "restore"}},
    # Every member sees the overview; an annotator's shows only their queue and progress.
    "project_detail": {"get": "200 200 200 200 200 404 302"},
    "workflow": {"get": "200 403 403 403 403 404 302", "post": "- 403 403 403 403 404 302"},
    # Deleting the project (a form on the settings page, POST only): admins only.
    "project_delete": {"get": "405 405 405 405 405 405 302", "post": "- 403 403 403 403 404 302"},
    # Adding and renaming a class are changes to the project's settings: admins only.
    "class_add": {"get": "405 405 405 405 405 405 302", "post": "- 403 403 403 403 404 302"},
    "class_rename": {"get": "405 405 405 405 405 405 302", "post": "- 403 403 403 403 404 302"},
    # --- agreement and annotator quality: everyone but annotators reads agreement (the quality table on the
    # page and the gold checks it is measured on are for admins and reviewers); admins exclude annotators and
    # mark or unmark gold checks ---------------------------------------------------------------------------------
    "agreement": {"get": "200 200 200 403 200 404 302"},
    "annotator_exclusion": {"get": "405 405 405 405 405 405 302", "post": "- 403 403 403 403 404 302"},
    "gold_checks": {"get": "200 403 200 403 403 404 302", "post": "- 403 403 403 403 404 302"},
    # --- labeling: everyone but viewers labels; reviewers (and admins) adjudicate ---------------------------------
    "label": {"get": "200 200 200 200 403 404 302", "post": "- - - - 403 404 302"},
    "label_comment": {"get": "405 405 405 405 405 405 302", "post": "- - - - 403 404 302"},
    "my_queue_order": {"get": "405 405 405 405 405 405 302", "post": "- - - - 403 404 302"},
    "review": {"get": "200 403 200 403 403 404 302", "post": "- 403 - 403 403 404 302"},
    # --- import: admins and developers -------------------------------------------------------------------------------
    "import_samples": {"get": "200 200 403 403 403 404 302", "post": "- - 403 403 403 404 302"},
    # No upload is staged in the walk's sessions, so those allowed are sent to the import page (after the role
    # check, not before).
    "import_map": {"get": "302 302 403 403 403 404 302", "post": "- - 403 403 403 404 302"},
    "import_job": {"get": "200 200 403 403 403 404 302"},
    # --- members, invitations, audit log: admins ---------------------------------------------------------------------
    "members": {"get": "200 403 403 403 403 404 302", "post": "- 403 403 403 403 404 302"},
    "member_update": {"get": "405 405 405 405 405 405 302", "post": "- 403 403 403 403 404 302"},
    "invitations": {"get": "200 403 403 403 403 404 302", "post": "- 403 403 403 403 404 302"},
    "invitation_revoke": {"get": "405 405 405 405 405 405 302", "post": "- 403 403 403 403 404 302"},
    # The link is the secret: whoever holds it sees the project's name and may join (or sign up).
    "invitation_accept": {"get": "200 200 200 200 200 200 200", "kwargs": {"token": "invitation_token"}},
    "audit_log": {"get": "200 403 403 403 403 404 302"},
    # --- LF studio: developers write; reviewers and viewers read; annotators see no LF ----------------------------
    "lf_studio": {"get": "200 200 200 403 200 404 302", "post": "- - 403 403 403 404 302"},
    "lf_preview": {"get": "200 200 403 403 403 404 302", "query": "kind=regex&label=SPAM&pattern=my"},
    "lf_edit": {"get": "200 200 200 403 200 404 302", "post": "- - 403 403 403 404 302"},
    "lf_active": {"get": "405 405 405 405 405 405 302", "post": "- - 403 403 403 404 302"},
    "lf_delete": {"get": "200 200 403 403 403 404 302", "post": "- - 403 403 403 404 302"},
    # --- dashboards and analysis: everyone but annotators reads them; developers refit and export ----------------
    "dashboard": {"get": "200 200 200 403 200 404 302"},
    "run_status": {"get": "200 200 200 403 200 404 302"},
    "refit": {"get": "405 405 405 405 405 405 302", "post": "- - 403 403 403 404 302"},
    "export": {"get": "200 200 403 403 403 404 302"},
    "exports": {"get": "200 200 403 403 403 404 302", "post": "- - 403 403 403 404 302"},
    "export_download": {"get": "200 200 403 403 403 404 302", "kwargs": {"job_id": "export"}},
    "analysis": {"get": "200 200 200 403 200 404 302"},
    "analysis_conflicts": {"get": "200 200 200 403 200 404 302"},
    "analysis_metrics": {"get": "200 200 200 403 200 404 302"},
    "analysis_history": {"get": "200 200 200 403 200 404 302"},
    "analysis_overview": {"get": "200 200 200 403 200 404 302"},
    "drilldown": {"get": "200 200 200 403 200 404 302", "query": "kind=covered"},
    # One sample with every hand label and who gave it: developers and reviewers (and admins), as UX.md says.
    "analysis_sample": {"get": "200 200 200 403 403 404 302", "post": "- - - 403 403 404 302"},
    # --- the API: anonymous callers get 401 ----------------------------------------------------------------------
    "api_token": {"get": "405 405 405 405 405 405 405"},  # POST username and password for a token
    # The schema and its docs name endpoints, not data.
    "api_schema": {"get": "200 200 200 200 200 200 200", "htmx": False},
    "api_docs": {"get": "200 200 200 200 200 200 200", "htmx": False},
    "api_projects": {"get": "200 200 200 200 200 200 401", "post": "- - - - - - 401"},
    "api_project": {
        "get": "200 200 200 200 200 404 401",
        "patch": "- 403 403 403 403 404 401",
        # Deleting the project: admins only (and only with its name as `confirm`).
        "delete": "- 403 403 403 403 404 401",
    },
    "api_project_class": {"get": "405 405 405 405 405 405 401", "patch": "- 403 403 403 403 404 401"},
    "api_project_imports": {"get": "200 200 403 403 403 404 401", "post": "- - 403 403 403 404 401"},
    "api_import": {"get": "200 200 403 403 403 404 401", "kwargs": {"pk": "job"}},
    # Every sample with its gold label: those who may read single samples (not viewers, not annotators).
    "api_project_samples": {"get": "200 200 200 403 403 404 401"},
    # My own hand labels: everyone who labels.
    "api_project_annotations": {"get": "200 200 200 200 403 404 401", "post": "- - - - 403 404 401"},
    "api_queue_next": {"get": "405 405 405 405 405 405 401", "post": "- - - - 403 404 401"},
    "api_project_agreement": {"get": "200 200 200 403 200 404 401"},
    "api_project_quality": {"get": "200 403 200 403 403 404 401"},
    "api_annotator_exclusion": {
        "get": "405 405 405 405 405 405 401",
        "post": "- 403 403 403 403 404 401",
        "delete": "- 403 403 403 403 404 401",
    },
    "api_project_checks": {"get": "200 403 200 403 403 404 401", "post": "- 403 403 403 403 404 401"},
    "api_project_check": {
        "get": "200 403 200 403 403 404 401",
        "delete": "- 403 403 403 403 404 401",
        "kwargs": {"sample_id": "check"},
    },
    "api_project_members": {"get": "200 403 403 403 403 404 401", "post": "- 403 403 403 403 404 401"},
    "api_member": {
        "get": "200 403 403 403 403 404 401",
        "patch": "- 403 403 403 403 404 401",
        "delete": "- 403 403 403 403 404 401",
        "kwargs": {"pk": "member"},
    },
    "api_project_invitations": {"get": "200 403 403 403 403 404 401", "post": "- 403 403 403 403 404 401"},
    "api_invitation": {
        "get": "405 405 405 405 405 405 401",  # DELETE only: withdraw
        "delete": "- 403 403 403 403 404 401",
        "kwargs": {"pk": "invitation_id"},
    },
    "api_project_lfs": {"get": "200 200 200 403 200 404 401", "post": "- - 403 403 403 404 401"},
    "api_project_lf_preview": {"get": "405 405 405 405 405 405 401", "post": "- - 403 403 403 404 401"},
    "api_lf": {
        "get": "200 200 200 403 200 404 401",
        "patch": "- - 403 403 403 404 401",
        "delete": "- - 403 403 403 404 401",
        "kwargs": {"pk": "lf"},
    },
    "api_project_runs": {"get": "200 200 200 403 200 404 401", "post": "- - 403 403 403 404 401"},
    "api_project_latest_run": {"get": "200 200 200 403 200 404 401"},
    "api_run": {"get": "200 200 200 403 200 404 401", "kwargs": {"pk": "run"}},
    "api_project_export": {"get": "200 200 403 403 403 404 401", "query": "format=csv"},
    # File exports built by the worker: those who export (admins, developers).
    "api_project_exports": {"get": "200 200 403 403 403 404 401", "post": "- - 403 403 403 404 401"},
    "api_export": {"get": "200 200 403 403 403 404 401", "kwargs": {"pk": "export"}},
    "api_export_download": {"get": "200 200 403 403 403 404 401", "kwargs": {"pk": "export"}},
    # Restoring an archive makes a new project: anyone signed in may; a restore job is its uploader's only.
    "api_restores": {"get": "200 200 200 200 200 200 401", "post": "- - - - - - 401"},
    "api_restore": {"get": "200 404 404 404 404 404 401", "kwargs": {"pk": "restore"}},
}


def test_a_viewers_drilldown_names_samples_without_links_to_pages_they_cannot_open(client, world):
    project = world["project"]
    sample_url = reverse("analysis_sample", args=[project.pk, 0])
    client.force_login(world["users"]["viewer"])
    html = client.get(reverse("drilldown", args=[project.pk]), {"kind": "covered"}).content.decode()
    assert "sample s0" in html and sample_url not in html
    client.force_login(world["users"]["reviewer"])
    html = client.get(reverse("drilldown", args=[project.pk]), {"kind": "covered"}).content.decode()
    assert sample_url in html


LINK = re.compile(r'(?:href|hx-get)="(/[^"#]*)"')


def test_no_page_links_a_role_to_a_page_it_may_not_open(world):
    """Every link and htmx GET on the pages a role opens leads somewhere that role may go."""
    from django.test import Client

    clients = _clients(world, Client)
    routes = dict((name, route) for name, route in walk_patterns() if name)
    problems = []
    for index, persona in enumerate(ROLES):
        links: dict[str, str] = {}
        for name, row in TABLE.items():
            if name.startswith("api_") or name not in routes or row["get"].split()[index] != "200":
                continue
            url = _url(name, routes[name], row, world["values"])
            response = clients[persona].get(url)
            if response.streaming or not response["Content-Type"].startswith("text/html"):
                continue  # a download (the export), not a page
            for link in LINK.findall(response.content.decode()):
                links.setdefault(html.unescape(link), name)
        assert len(links) > 5, f"the walk found only {len(links)} links on the pages of {persona}"
        for link, page in sorted(links.items()):
            if link.startswith(("/static/", "/admin/", "/media/")):
                continue
            code = clients[persona].get(link).status_code
            if code in (403, 404):
                problems.append(f"{page} links {persona} to {link}, which answers them {code}")
    assert not problems, "\n".join(problems)


def test_an_annotator_sees_no_trace_of_labeling_functions_anywhere(world):
    """Every answer an annotator gets (pages, fragments, API) is free of the LFs' names."""
    from django.test import Client

    client = _clients(world, Client)["annotator"]
    routes = dict((name, route) for name, route in walk_patterns() if name)
    index = PERSONAS.index("annotator")
    opened = 0
    for name, row in TABLE.items():
        if name not in routes or row["get"].split()[index] != "200":
            continue
        url = _url(name, routes[name], row, world["values"])
        for htmx in (False, True):
            response = _send(client, "get", url, htmx=htmx)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert b"zebra-" not in body, f"{name} shows the annotator a labeling function"
            opened += 1
    assert opened > 10
    # The marker is there for those who may see LFs, so its absence above means something.
    developer = _clients(world, Client)["developer"]
    assert b"zebra-my" in developer.get(reverse("lf_studio", args=[world["project"].pk])).content


def test_an_id_of_one_project_is_404_through_another_project(world):
    """A project's admin cannot reach another project's LF, import, member or invitation by putting its id
    in a URL of their own project: every pattern with a project and an object id answers 404."""
    from django.test import Client

    outsider = world["users"]["outsider"]
    own = make_project(outsider, name="Eve's")
    client = Client()
    client.force_login(outsider)
    values = {**world["values"], "pk": own.pk}
    index = PERSONAS.index("outsider")
    checked = []
    for name, route in walk_patterns():
        kwargs = [groups[0] or groups[1] for groups in KWARG.findall(route)]
        # Rows are positions inside a project, not ids; an API token is its owner's, not a project's.
        ids = [k for k in kwargs if k.endswith("_id") and k != "token_id"]
        if "pk" not in kwargs or not ids or name not in TABLE:
            continue
        row = TABLE[name]
        url = _url(name, route, row, values)
        method = "post" if row["get"].split()[index] == "405" else "get"
        code = _send(client, method, url).status_code
        assert code == 404, f"{name} {method.upper()} {url} answers {code} to the admin of another project"
        checked.append(name)
    assert {"lf_edit", "lf_delete", "import_job", "member_update", "invitation_revoke"} <= set(checked)
