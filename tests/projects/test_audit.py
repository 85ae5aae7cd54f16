"""The audit log: the services record who changed which LF, hand label, member or setting; admins read it."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labeling import services as lf_services
from projects import audit, services
from projects.models import AuditEvent
from tests.conftest import make_samples


def _actions(project):
    return list(AuditEvent.objects.filter(project=project).order_by("id").values_list("action", flat=True))


def _last(project):
    return AuditEvent.objects.filter(project=project).latest("id")


def test_lf_created_changed_and_deleted_are_recorded_with_who(project, bob):
    lf = lf_services.create_lf(
        project=project,
        user=bob,
        name="subscribe",
        kind="regex",
        label="SPAM",
        config={"pattern": "subscribe"},
    )
    event = _last(project)
    assert (event.action, event.actor, event.target_type, event.target_id) == (
        "lf.created",
        bob,
        "labelingfunction",
        lf.pk,
    )
    assert event.target_label == "subscribe" and event.details["kind"] == "regex"
    lf = lf_services.update_lf(lf=lf, user=bob, name="subscribe me")
    assert _last(project).action == "lf.changed"
    assert _last(project).details == {"name": "subscribe me"}
    lf_services.delete_lf(lf=lf, user=bob)
    event = _last(project)
    assert (event.action, event.target_label, event.actor) == ("lf.deleted", "subscribe me", bob)


def test_hand_labels_created_changed_removed_and_adjudicated(project, charlie, alice):
    (sample,) = make_samples(project, ["buy now"])
    services.annotate(project=project, sample=sample, user=charlie, label=1)
    services.annotate(project=project, sample=sample, user=charlie, label=0)
    services.remove_annotation(project=project, sample=sample, user=charlie)
    services.adjudicate(project=project, sample=sample, user=alice, label=1)
    events = list(AuditEvent.objects.filter(project=project, action__startswith="label.").order_by("id"))
    assert [(e.action, e.actor.username, e.target_label) for e in events] == [
        ("label.created", "charlie", "s0"),
        ("label.changed", "charlie", "s0"),
        ("label.removed", "charlie", "s0"),
        ("label.adjudicated", "alice", "s0"),
    ]
    assert events[0].details["label_name"] == "SPAM" and events[1].details["label_name"] == "HAM"


def test_members_added_role_changed_and_removed(project, alice, eve):
    services.add_member(project=project, user=eve, role="viewer", by=alice)
    services.change_role(project=project, user=eve, role="reviewer", by=alice)
    services.remove_member(project=project, user=eve, by=alice)
    events = list(AuditEvent.objects.filter(project=project, target_label="eve").order_by("id"))
    assert [(e.action, e.actor, e.details) for e in events] == [
        ("member.added", alice, {"role": "viewer"}),
        ("member.role_changed", alice, {"old": "viewer", "new": "reviewer"}),
        ("member.removed", alice, {"role": "reviewer"}),
    ]


def test_settings_changes_are_recorded_with_old_and_new_values(client, project, alice):
    services.update_project(project=project, user=alice, instructions="Be kind", name=project.name)
    event = _last(project)
    assert (event.action, event.actor) == ("setting.changed", alice)
    assert event.details == {"instructions": {"old": "", "new": "Be kind"}}  # the unchanged name is left out
    services.update_workflow(project=project, user=alice, overlap=3, blind=False, queue_order="row")
    assert _last(project).details == {"overlap": {"old": 1, "new": 3}, "blind": {"old": True, "new": False}}
    client.force_login(alice)
    html = client.get(reverse("audit_log", args=[project.pk])).content.decode()
    assert "overlap: 1 → 3" in html and "blind: True → False" in html


def test_the_log_says_what_an_event_was_about_in_words(client, project, alice, bob):
    lf = lf_services.create_lf(
        project=project, user=bob, name="double", kind="regex", label="SPAM", config={"pattern": "x"}
    )
    lf_services.delete_lf(lf=lf, user=bob)
    client.force_login(alice)
    html = client.get(reverse("audit_log", args=[project.pk])).content.decode()
    assert "<td>labeling function “double”</td>" in html
    assert "labelingfunction" not in html


def test_saving_settings_unchanged_records_nothing(project, alice):
    before = AuditEvent.objects.count()
    services.update_workflow(project=project, user=alice, overlap=1, blind=True)
    assert AuditEvent.objects.count() == before


def test_an_import_started_is_recorded(project, bob, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("c.csv", b"text\nhello\n", content_type="text/csv")
    job = services.start_import(project=project, user=bob, upload=upload, options={"text_field": "text"})
    event = _last(project)
    assert (event.action, event.actor, event.target_id, event.target_label) == (
        "import.started",
        bob,
        job.pk,
        "c.csv",
    )


def test_a_refused_change_leaves_no_event(project, alice):
    before = AuditEvent.objects.count()
    try:
        services.change_role(project=project, user=alice, role="viewer", by=alice)  # the last admin
    except services.ServiceError:
        pass
    assert AuditEvent.objects.count() == before


def test_member_changes_in_the_browser_name_the_admin(client, project, alice, charlie):
    client.force_login(alice)
    client.post(reverse("member_update", args=[project.pk, charlie.pk]), {"role": "reviewer"})
    event = _last(project)
    assert (event.action, event.actor, event.target_label) == ("member.role_changed", alice, "charlie")


def test_admin_reads_the_log_newest_first(client, project, alice, bob):
    lf_services.create_lf(
        project=project, user=bob, name="caps", kind="regex", label="SPAM", config={"pattern": "[A-Z]{5}"}
    )
    client.force_login(alice)
    html = client.get(reverse("audit_log", args=[project.pk])).content.decode()
    assert html.index("lf.created") < html.index("member.added")
    assert "caps" in html and ">bob<" in html


def test_the_log_pages_by_keyset_and_htmx_appends_the_next_page(client, project, alice):
    for i in range(audit.PAGE_SIZE + 5):
        audit.record(project, alice, "setting.changed", project, step=i)
    client.force_login(alice)
    first = client.get(reverse("audit_log", args=[project.pk])).content.decode()
    assert "step: 54<" in first and "step: 5<" in first and "step: 4<" not in first
    newest_ids = list(AuditEvent.objects.filter(project=project).order_by("-id").values_list("id", flat=True))
    cursor = newest_ids[audit.PAGE_SIZE - 1]
    assert f"?before={cursor}" in first
    older = client.get(reverse("audit_log", args=[project.pk]), {"before": cursor}, HTTP_HX_REQUEST="true")
    text = older.content.decode()
    assert "<html" not in text  # the rows only, appended in place
    assert "step: 4<" in text and "step: 0<" in text and "step: 54<" not in text
    # The fixture's own events (project created, members added) are on this last page too.
    assert "member.added" in text
    assert "Older events" not in text


def test_only_admins_see_the_log(client, project, bob, charlie, dana, eve):
    url = reverse("audit_log", args=[project.pk])
    for user in (bob, charlie, dana):
        client.force_login(user)
        assert client.get(url).status_code == 403
    client.force_login(eve)
    assert client.get(url).status_code == 404


def test_an_empty_log_says_what_will_show(client, alice):
    from tests.conftest import make_project

    project = make_project(alice)
    AuditEvent.objects.filter(project=project).delete()
    client.force_login(alice)
    assert (
        "Nothing has happened in this project yet"
        in client.get(reverse("audit_log", args=[project.pk])).content.decode()
    )
