"""LF edits from two tabs: a form or an API call based on an older version or name is refused (409) saying
what changed, by whom and when, keeps what was typed, and saves over it only when asked again."""

import re

import pytest
from django.urls import reverse

from labeling import services
from labeling.models import LabelingFunction
from tests.conftest import make_samples, token_client

FORM = {"kind": "regex", "label": "SPAM", "whole_word": "1", "mode": "any"}


@pytest.fixture
def lf(project, alice):
    make_samples(project, ["call my phone number", "great song", "nice"])
    return services.create_lf(
        project=project, user=alice, name="phone", kind="regex", label="SPAM", config={"pattern": "phone"}
    )


def _edit(project, lf):
    return reverse("lf_edit", args=[project.pk, lf.pk])


def _opened(client, project, lf) -> dict:
    """The hidden fields of the edit form as a tab that opens it now gets them."""
    page = client.get(_edit(project, lf)).content.decode()
    seen = dict(re.findall(r'<input type="hidden" name="(seen_\w+)" value="([^"]*)">', page))
    assert set(seen) == {"seen_version", "seen_name"}, page
    return seen


def test_the_edit_form_carries_the_version_and_name_it_was_opened_on(client, project, bob, lf):
    client.force_login(bob)
    assert _opened(client, project, lf) == {"seen_version": "1", "seen_name": "phone"}


def test_a_stale_tab_cannot_revert_a_rename_and_keeps_what_was_typed(client, project, alice, bob, lf):
    client.force_login(bob)
    tab_b = _opened(client, project, lf)
    # Tab A (alice) renames it and gives it a new pattern: version 2.
    services.update_lf(lf=lf, user=alice, name="phone number", config={"pattern": "phone number"})

    response = client.post(_edit(project, lf), {**FORM, **tab_b, "name": "phone", "pattern": "(?i)call"})

    assert response.status_code == 409
    page = response.content.decode()
    assert re.search(
        r"“phone” was renamed to “phone number” and saved as version 2 by alice at \d\d:\d\d "
        r"after you opened it: <a href=\"[^\"]+\">reload to see it</a>, or save yours over it",
        page,
    ), page
    # What bob typed is still in the form, which is now based on version 2, with the explicit button; the
    # name he left alone takes alice's new one.
    assert 'name="pattern" value="(?i)call"' in page
    assert 'name="name" value="phone number"' in page
    assert 'name="seen_version" value="2"' in page and 'name="seen_name" value="phone number"' in page
    assert "Save mine anyway" in page and "and renames" not in page
    lf.refresh_from_db()
    assert (lf.name, lf.current.number, lf.current.config) == ("phone number", 2, {"pattern": "phone number"})


def test_a_name_typed_in_the_stale_tab_is_kept_and_said_to_rename(client, project, alice, bob, lf):
    client.force_login(bob)
    tab_b = _opened(client, project, lf)
    services.update_lf(lf=lf, user=alice, name="phone number")
    response = client.post(_edit(project, lf), {**FORM, **tab_b, "name": "mobile", "pattern": "phone"})
    assert response.status_code == 409
    page = response.content.decode()
    assert 'name="name" value="mobile"' in page
    assert "“Save mine anyway” replaces version 1 and renames “phone number” to “mobile”" in page


def test_save_mine_anyway_saves_over_the_newer_version(client, project, alice, bob, lf):
    client.force_login(bob)
    tab_b = _opened(client, project, lf)
    services.update_lf(lf=lf, user=alice, config={"pattern": "phone number"})
    mine = {**FORM, "name": "phone", "pattern": "(?i)call"}
    refused = client.post(_edit(project, lf), {**mine, **tab_b})
    assert refused.status_code == 409
    rebased = dict(re.findall(r'name="(seen_\w+)" value="([^"]*)"', refused.content.decode()))

    response = client.post(_edit(project, lf), {**mine, **rebased}, follow=True)

    assert response.status_code == 200
    assert "Saved “phone” as version 3." in response.content.decode()
    lf.refresh_from_db()
    assert (lf.current.number, lf.current.config, lf.current.created_by) == (3, {"pattern": "(?i)call"}, bob)


def test_a_rename_alone_since_opening_is_a_conflict_naming_who_renamed(client, project, alice, bob, lf):
    client.force_login(bob)
    tab_b = _opened(client, project, lf)
    services.update_lf(lf=lf, user=alice, name="phone number")  # no new version

    response = client.post(_edit(project, lf), {**FORM, **tab_b, "name": "phone", "pattern": "(?i)call"})

    assert response.status_code == 409
    assert re.search(
        r"“phone” was renamed to “phone number” by alice at \d\d:\d\d after you opened it",
        response.content.decode(),
    )
    lf.refresh_from_db()
    assert (lf.name, lf.current.number) == ("phone number", 1)


def test_switching_it_off_in_another_tab_is_not_a_conflict(client, project, alice, bob, lf):
    # The form does not carry `active`, so saving it cannot undo the switch.
    client.force_login(bob)
    tab_b = _opened(client, project, lf)
    services.update_lf(lf=lf, user=alice, active=False)

    response = client.post(_edit(project, lf), {**FORM, **tab_b, "name": "phone", "pattern": "(?i)call"})

    assert response.status_code == 302
    lf.refresh_from_db()
    assert (lf.active, lf.current.number) == (False, 2)


def test_an_up_to_date_form_saves_as_before(client, project, bob, lf):
    client.force_login(bob)
    response = client.post(
        _edit(project, lf), {**FORM, **_opened(client, project, lf), "name": "phone", "pattern": "x"}
    )
    assert response.status_code == 302
    lf.refresh_from_db()
    assert lf.current.number == 2


def test_a_viewer_posting_a_stale_form_is_refused_before_any_check(client, project, alice, dana, lf):
    client.force_login(dana)
    services.update_lf(lf=lf, user=alice, config={"pattern": "phone number"})
    response = client.post(
        _edit(project, lf), {**FORM, "seen_version": "1", "seen_name": "phone", "name": "x"}
    )
    assert response.status_code == 403
    assert LabelingFunction.objects.get(pk=lf.pk).name == "phone"


def test_the_preview_fragment_ignores_the_seen_fields(client, project, bob, lf):
    client.force_login(bob)
    response = client.get(
        reverse("lf_preview", args=[project.pk]),
        {**FORM, "pattern": "phone", "lf": lf.pk, "seen_version": "1", "seen_name": "phone"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "coverage: votes on 1 of 3 samples" in response.content.decode()


# --- the API -------------------------------------------------------------------------------------------------------


def test_api_a_stale_version_gets_409_naming_the_current_one(project, alice, bob, lf):
    services.update_lf(lf=lf, user=alice, config={"pattern": "phone number"})
    client = token_client(bob)

    response = client.patch(f"/api/lfs/{lf.pk}/", {"version": 1, "config": {"pattern": "x"}}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert (body["field"], body["code"], body["version"]) == ("version", "lf_conflict", 2)
    assert re.fullmatch(
        r"“phone” was saved as version 2 by alice at \d\d:\d\d after you opened it", body["message"]
    )
    assert body["current"]["version"]["number"] == 2 and body["current"]["config"] == {
        "pattern": "phone number"
    }
    lf.refresh_from_db()
    assert lf.current.number == 2 and lf.versions.count() == 2


def test_api_the_current_version_saves(project, bob, lf):
    client = token_client(bob)
    response = client.patch(f"/api/lfs/{lf.pk}/", {"version": 1, "config": {"pattern": "x"}}, format="json")
    assert response.status_code == 200
    assert response.json()["version"]["number"] == 2


def test_api_without_a_version_the_last_write_wins(project, alice, bob, lf):
    services.update_lf(lf=lf, user=alice, config={"pattern": "phone number"})
    client = token_client(bob)
    response = client.patch(f"/api/lfs/{lf.pk}/", {"config": {"pattern": "x"}}, format="json")
    assert response.status_code == 200
    assert response.json()["version"]["number"] == 3


def test_api_a_version_that_is_not_a_number_is_refused(project, bob, lf):
    response = token_client(bob).patch(f"/api/lfs/{lf.pk}/", {"version": "two", "name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "version"
    assert LabelingFunction.objects.get(pk=lf.pk).name == "phone"


def test_api_schema_documents_the_version_check(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    update = schema["components"]["schemas"]["PatchedLFUpdateInput"]["properties"]["version"]
    assert "Left out: not checked (last write wins)" in update["description"]
    patch = schema["paths"]["/api/lfs/{id}/"]["patch"]
    assert "409" in patch["responses"]
