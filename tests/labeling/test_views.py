"""The LF studio, its live preview, the run status fragment and the LF list actions, as a browser sees them."""

import re

import pytest
from django.urls import reverse

from labeling import services
from labeling.highlight import highlight
from labeling.models import LabelingFunction, LabelModelRun, LFVersion
from tests.conftest import make_samples
from tests.labeling.helpers import apply_and_refit

TEXTS = [
    "check out my channel",
    "great song",
    "subscribe please",
    "love this song <3",
    "nice",
    "my video, check it out",
]
SPLITS = ["train", "train", "dev", "dev", "test", "test"]
GOLD = [1, 0, 1, 0, 0, 1]


@pytest.fixture
def samples(project):
    return make_samples(project, TEXTS, splits=SPLITS, gold=GOLD)


def _lf(project, user, name="song", kind="keyword", label="HAM", config=None):
    return services.create_lf(
        project=project, user=user, name=name, kind=kind, label=label, config=config or {"keywords": ["song"]}
    )


def _urls(project, lf):
    return [
        reverse("lf_studio", args=[project.pk]),
        reverse("lf_edit", args=[project.pk, lf.pk]),
        reverse("lf_preview", args=[project.pk]) + "?kind=keyword&keywords=song&label=HAM",
        reverse("dashboard", args=[project.pk]),
        reverse("run_status", args=[project.pk]),
    ]


# --- access ---------------------------------------------------------------------------------------------------------


def test_outsider_gets_404_for_every_page_and_fragment(client, project, eve, alice, samples):
    lf = _lf(project, alice)
    client.force_login(eve)
    for url in _urls(project, lf):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("lf_active", args=[project.pk, lf.pk]), {"active": "0"}).status_code == 404
    assert client.post(reverse("lf_delete", args=[project.pk, lf.pk])).status_code == 404


def test_annotator_gets_403_for_every_page_and_fragment(client, project, charlie, alice, samples):
    lf = _lf(project, alice)
    client.force_login(charlie)
    for url in _urls(project, lf):
        assert client.get(url).status_code == 403, url


def test_viewer_reads_the_studio_but_cannot_change_it(client, project, dana, alice, samples):
    lf = _lf(project, alice)
    client.force_login(dana)
    page = client.get(reverse("lf_edit", args=[project.pk, lf.pk]))
    assert page.status_code == 200
    assert 'id="lf-form"' not in page.content.decode()
    assert "song" in page.content.decode()
    created = client.post(
        reverse("lf_studio", args=[project.pk]), {"name": "x", "kind": "regex", "pattern": "x"}
    )
    assert created.status_code == 403
    assert client.post(reverse("lf_active", args=[project.pk, lf.pk]), {"active": "0"}).status_code == 403
    assert client.post(reverse("lf_delete", args=[project.pk, lf.pk])).status_code == 403
    assert LabelingFunction.objects.live().filter(project=project, active=True).count() == 1


def test_a_viewer_is_shown_no_preview_or_typing_hint_they_cannot_use(client, project, dana, alice, samples):
    lf = _lf(project, alice)
    client.force_login(dana)
    studio = client.get(reverse("lf_studio", args=[project.pk])).content.decode()
    assert "<h3>Preview</h3>" not in studio and "Type keywords" not in studio and 'id="preview"' not in studio
    assert "Your role can read labeling functions, not change them" in studio
    chosen = client.get(reverse("lf_edit", args=[project.pk, lf.pk])).content.decode()
    assert "<h3>Samples it votes on</h3>" in chosen and "Type keywords" not in chosen
    assert f'hx-get="{reverse("lf_preview", args=[project.pk])}?' in chosen
    client.force_login(alice)
    editor = client.get(reverse("lf_studio", args=[project.pk])).content.decode()
    assert "<h3>Preview</h3>" in editor and "Type keywords" in editor


def test_viewer_previews_a_saved_lf_but_not_a_definition_they_typed(client, project, dana, alice, samples):
    lf = _lf(project, alice)
    client.force_login(dana)
    url = reverse("lf_preview", args=[project.pk])
    # The read-only studio asks for the saved LF's matches: its stored definition is used, whatever is sent.
    saved = client.get(url, {"lf": lf.pk, "kind": "keyword", "keywords": "check", "label": "SPAM"})
    assert saved.status_code == 200
    assert "votes on 2 of 6 samples" in saved.content.decode()
    assert "<mark>song</mark>" in saved.content.decode()
    # A typed definition (here a code LF, which would run in the sandbox) is refused.
    typed = client.get(url, {"kind": "code", "source": "def lf(x):\n    return 1\n"})
    assert typed.status_code == 403


def test_anonymous_is_sent_to_sign_in(client, project):
    response = client.get(reverse("lf_studio", args=[project.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_posts_need_the_csrf_token(project, bob, samples):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    response = strict.post(
        reverse("lf_studio", args=[project.pk]),
        {"name": "x", "kind": "regex", "pattern": "x", "label": "HAM"},
    )
    assert response.status_code == 403
    assert not LabelingFunction.objects.filter(project=project).exists()


# --- the studio -----------------------------------------------------------------------------------------------------


def test_studio_lists_lfs_with_kind_label_version_and_status(client, project, bob, alice, samples):
    _lf(project, alice)
    client.force_login(bob)
    page = client.get(reverse("lf_studio", args=[project.pk])).content.decode()
    assert 'id="lf-form"' in page
    row = re.search(r"<tr class=\"[^\"]*\">.*?</tr>", page, re.S).group(0)
    assert "song" in row and "Keyword" in row and "HAM" in row and "v1" in row and "queued" in row
    # The editor offers the project's classes.
    assert '<option value="SPAM"' in page


def test_studio_empty_state_says_what_to_do(client, project, bob):
    client.force_login(bob)
    page = client.get(reverse("lf_studio", args=[project.pk])).content.decode()
    assert "No labeling functions yet — write one in the editor" in page


def _preview(client, project, **params):
    response = client.get(reverse("lf_preview", args=[project.pk]), params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_preview_of_a_keyword_lf_counts_hits_and_highlights_them(client, project, bob, samples):
    client.force_login(bob)
    html = _preview(client, project, kind="keyword", keywords="song", whole_word="1", label="HAM")
    assert "votes on 2 of 6 samples" in html
    assert "33.3 %" in html
    assert html.count("<mark>song</mark>") == 2
    # Both songs are hand-labeled HAM: one on train... all gold, so accuracy is 2 correct, 0 incorrect.
    assert "2 correct, 0 incorrect" in html
    assert "<html" not in html  # a fragment, not the page
    assert not LabelingFunction.objects.filter(project=project).exists()


def test_preview_of_a_regex_lf_marks_the_whole_match(client, project, bob, samples):
    client.force_login(bob)
    html = _preview(client, project, kind="regex", pattern="(?i)check.*out", label="SPAM")
    assert "votes on 2 of 6 samples" in html
    assert "<mark>check out</mark> my channel" in html
    assert "<mark>check it out</mark>" in html
    assert "2 correct, 0 incorrect" in html


def test_preview_of_a_bad_regex_shows_the_engines_message_and_creates_nothing(client, project, bob, samples):
    client.force_login(bob)
    html = _preview(client, project, kind="regex", pattern="(unclosed", label="SPAM")
    assert "missing ): (unclosed" in html
    assert 'role="alert"' in html
    assert not LabelingFunction.objects.filter(project=project).exists()
    assert not LFVersion.objects.exists()


def test_preview_accuracy_is_na_without_gold(client, project, bob):
    make_samples(project, ["a song", "another song", "quiet"])
    client.force_login(bob)
    html = _preview(client, project, kind="keyword", keywords="song", whole_word="1", label="HAM")
    assert "n/a" in html
    assert "votes on no hand-labeled sample" in html
    assert "0.0 %" not in html.split("coverage")[1].split("conflicts")[0]


def test_preview_counts_conflicts_with_active_lfs(client, project, bob, alice, samples):
    _lf(project, alice, name="my", kind="regex", label="SPAM", config={"pattern": "(?i)my"})
    apply_and_refit(project)
    client.force_login(bob)
    # "check" votes HAM on two samples that "my" votes SPAM on.
    html = _preview(client, project, kind="keyword", keywords="check", whole_word="1", label="HAM")
    assert re.search(r'<div class="figure">2</div>\s*<div class="muted small">conflicts', html)


def test_preview_escapes_sample_text(client, project, bob):
    make_samples(project, ["<script>alert(1)</script> song"])
    client.force_login(bob)
    html = _preview(client, project, kind="keyword", keywords="song", whole_word="1", label="HAM")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>song</mark>" in html


def test_preview_with_nothing_typed_asks_for_keywords(client, project, bob, samples):
    client.force_login(bob)
    html = _preview(client, project, kind="keyword", keywords="  ", label="HAM")
    assert "Type keywords or a pattern (or a rule, or code)" in html


def test_highlight_merges_overlapping_spans_and_counts_code_points():
    assert str(highlight("héllo wörld", [(6, 11)])) == "héllo <mark>wörld</mark>"
    assert str(highlight("abcdef", [(1, 3), (2, 5)])) == "a<mark>bcde</mark>f"
    assert str(highlight("a<b>c", [(1, 4)])) == "a<mark>&lt;b&gt;</mark>c"


def test_highlight_cuts_a_long_text_around_the_first_match():
    text = "x" * 1000 + "needle" + "y" * 1000
    html = str(highlight(text, [(1000, 1006)], window=200))
    assert html.startswith("…") and html.endswith("…")
    assert "<mark>needle</mark>" in html


# --- saving, editing, toggling, deleting -------------------------------------------------------------------------------


def test_saving_creates_the_lf_with_version_1_and_opens_it(client, project, bob, samples):
    client.force_login(bob)
    response = client.post(
        reverse("lf_studio", args=[project.pk]),
        {
            "name": "song",
            "kind": "keyword",
            "keywords": "song, tune",
            "whole_word": "1",
            "mode": "any",
            "label": "HAM",
        },
    )
    lf = LabelingFunction.objects.get(project=project, name="song")
    assert response.status_code == 302
    # The studio answers with a fresh form for the next LF, and a message linking to the one just saved.
    assert response["Location"] == reverse("lf_studio", args=[project.pk])
    page = client.get(response["Location"]).content.decode()
    edit = reverse("lf_edit", args=[project.pk, lf.pk])
    assert (
        f'Saved “song” as version 1. Applying it to the samples, then refitting. <a href="{edit}">Edit “song”</a>'
        in page
    )
    assert 'id="editor-title">New labeling function</h2>' in page
    assert f'action="{reverse("lf_studio", args=[project.pk])}"' in page
    assert 'name="name" value=""' in page and "autofocus" in page
    assert lf.current.number == 1
    assert lf.current.config == {
        "keywords": ["song", "tune"],
        "whole_word": True,
        "case_sensitive": False,
        "mode": "any",
    }
    assert project.label_name(lf.current.label) == "HAM"


def test_saving_a_bad_regex_shows_the_message_beside_the_field_and_creates_nothing(
    client, project, bob, samples
):
    client.force_login(bob)
    response = client.post(
        reverse("lf_studio", args=[project.pk]),
        {"name": "broken", "kind": "regex", "pattern": "(x", "label": "SPAM"},
    )
    assert response.status_code == 422  # refused, shown in place
    html = response.content.decode()
    assert "missing )" in html
    assert 'value="(x"' in html  # what was typed stays
    assert not LabelingFunction.objects.filter(project=project).exists()


def test_saving_a_duplicate_name_says_so(client, project, bob, alice, samples):
    _lf(project, alice)
    client.force_login(bob)
    response = client.post(
        reverse("lf_studio", args=[project.pk]),
        {"name": "song", "kind": "regex", "pattern": "x", "label": "HAM"},
    )
    assert "already a labeling function named" in response.content.decode()
    assert LabelingFunction.objects.filter(project=project).count() == 1


def test_editing_makes_version_2_and_keeps_version_1(client, project, bob, alice, samples):
    lf = _lf(project, alice)
    client.force_login(bob)
    response = client.post(
        reverse("lf_edit", args=[project.pk, lf.pk]),
        {
            "name": "song",
            "kind": "keyword",
            "keywords": "song\nmusic",
            "whole_word": "1",
            "mode": "any",
            "label": "HAM",
        },
    )
    assert response.status_code == 302
    lf.refresh_from_db()
    assert lf.current.number == 2
    assert lf.current.config["keywords"] == ["song", "music"]
    assert list(lf.versions.values_list("number", flat=True)) == [1, 2]
    page = client.get(reverse("lf_edit", args=[project.pk, lf.pk])).content.decode()
    assert "version 2" in page and "Save as version 3" in page


def test_the_edit_form_names_the_lf_it_edits_and_a_rename_is_reported(client, project, bob, alice, samples):
    lf = _lf(project, alice)
    client.force_login(bob)
    url = reverse("lf_edit", args=[project.pk, lf.pk])
    page = client.get(url).content.decode()
    assert 'id="editor-title">Editing “song”' in page
    assert "Saving this form changes “song”" in page
    assert "a new name renames “song”" in page
    data = {"kind": "keyword", "keywords": "song", "whole_word": "1", "mode": "any", "label": "HAM"}
    response = client.post(url, {**data, "name": "tune"}, follow=True)
    assert (
        "Renamed “song” to “tune”; its definition did not change, so no new version."
        in response.content.decode()
    )
    response = client.post(url, {**data, "name": "music", "keywords": "music"}, follow=True)
    assert "Renamed “tune” to “music” and saved it as version 2." in response.content.decode()
    lf.refresh_from_db()
    assert (lf.name, lf.current.number) == ("music", 2)
    response = client.post(url, {**data, "name": "music", "keywords": "music, tune"}, follow=True)
    page = response.content.decode()
    assert "Saved “music” as version 3." in page and "Renamed" not in page


def test_saving_the_same_definition_makes_no_new_version(client, project, bob, alice, samples):
    lf = _lf(project, alice)
    client.force_login(bob)
    client.post(
        reverse("lf_edit", args=[project.pk, lf.pk]),
        {
            "name": "song",
            "kind": "keyword",
            "keywords": "song",
            "whole_word": "1",
            "mode": "any",
            "label": "HAM",
        },
    )
    assert lf.versions.count() == 1


def test_toggle_turns_an_lf_off_and_returns_the_list_for_htmx(client, project, bob, alice, samples):
    lf = _lf(project, alice)
    client.force_login(bob)
    response = client.post(
        reverse("lf_active", args=[project.pk, lf.pk]), {"active": "0"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    lf.refresh_from_db()
    assert not lf.active
    assert html.lstrip().startswith('<div id="lf-list"')
    assert 'aria-checked="false"' in html


def test_delete_asks_first_then_removes_the_lf(client, project, bob, alice, samples):
    lf = _lf(project, alice)
    client.force_login(bob)
    confirm = client.get(reverse("lf_delete", args=[project.pk, lf.pk]))
    assert "Delete “song”?" in confirm.content.decode()
    assert LabelingFunction.objects.live().filter(pk=lf.pk).exists()
    response = client.post(reverse("lf_delete", args=[project.pk, lf.pk]), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("lf_studio", args=[project.pk])
    assert not LabelingFunction.objects.live().filter(pk=lf.pk).exists()
    assert client.get(reverse("lf_edit", args=[project.pk, lf.pk])).status_code == 404
    assert (
        "song" not in client.get(reverse("lf_studio", args=[project.pk])).content.decode().split("lf-list")[1]
    )


# --- run status -------------------------------------------------------------------------------------------------------


def test_run_status_polls_while_a_run_is_queued_and_stops_when_done(client, project, bob, alice, samples):
    _lf(project, alice)
    client.force_login(bob)
    url = reverse("run_status", args=[project.pk])
    queued = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in queued
    assert "queued" in queued and "song" in queued

    run = apply_and_refit(project)
    done = client.get(url + "?was=active", HTTP_HX_REQUEST="true")
    html = done.content.decode()
    # Idle: no longer every second, only a look every 5 s for work started elsewhere.
    assert 'hx-trigger="every 1s"' not in html and f'?seen={run.pk}" hx-trigger="every 5s"' in html
    assert f"Refit #{run.number} finished" in html
    # The pages that listen refresh once, when a polling fragment sees the end.
    assert "chorus:run-finished" in done["HX-Trigger"]
    assert "HX-Trigger" not in client.get(url, HTTP_HX_REQUEST="true")


def test_run_status_shows_a_failed_run_with_its_message(client, project, bob, alice):
    LabelModelRun.objects.create(project=project, status="failed", message="the refit failed: boom")
    client.force_login(bob)
    html = client.get(reverse("run_status", args=[project.pk])).content.decode()
    assert "failed" in html and "boom" in html and 'hx-trigger="every 1s"' not in html


def test_run_status_is_a_fragment_for_htmx_and_a_page_for_a_plain_link(client, project, bob, alice):
    LabelModelRun.objects.create(project=project, status="queued")
    client.force_login(bob)
    url = reverse("run_status", args=[project.pk])
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="run-status"') and "<html" not in fragment
    page = client.get(url).content.decode()
    assert "<html" in page and 'id="run-status"' in page


def test_toggling_another_lf_keeps_the_open_one_marked(client, project, bob, alice, samples):
    open_lf = _lf(project, alice)
    other = _lf(project, alice, name="my", kind="regex", label="SPAM", config={"pattern": "my"})
    client.force_login(bob)
    html = client.post(
        reverse("lf_active", args=[project.pk, other.pk]),
        {"active": "0", "selected": str(open_lf.pk)},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert re.search(
        rf'<a href="{reverse("lf_edit", args=[project.pk, open_lf.pk])}" aria-current="true">', html
    )


def test_preview_of_a_field_rule_counts_short_texts(client, project, bob, samples):
    client.force_login(bob)
    html = _preview(client, project, kind="field", field="text", op="word_count_lt", value="3", label="HAM")
    assert "votes on 3 of 6 samples" in html
    assert "great song" in html and "subscribe please" in html and "nice" in html


def test_preview_of_a_code_lf_shows_each_samples_vote(client, project, bob, samples):
    client.force_login(bob)
    source = "def lf(x):\n    return 'SPAM' if 'my' in x.text else None\n"
    html = _preview(client, project, kind="code", source=source, label="HAM")
    assert "votes on 2 of 6 samples" in html
    assert html.count("votes <strong>SPAM</strong>") == 2
    broken = _preview(client, project, kind="code", source="def lf(x) return 1", label="")
    assert "line 1" in broken and 'role="alert"' in broken


def test_saving_a_field_rule_and_a_code_lf_from_the_editor(client, project, bob, samples):
    client.force_login(bob)
    url = reverse("lf_studio", args=[project.pk])
    client.post(
        url,
        {
            "name": "short",
            "kind": "field",
            "field": "text",
            "op": "word_count_lt",
            "value": "3",
            "label": "HAM",
        },
    )
    short = LabelingFunction.objects.get(project=project, name="short")
    assert short.current.kind == "field"
    assert short.current.config["op"] == "word_count_lt" and short.current.config["field"] == "text"
    source = "def lf(x):\n    return 'SPAM' if 'my' in x.text else None\n"
    client.post(url, {"name": "code", "kind": "code", "source": source, "label": "HAM"})
    code = LabelingFunction.objects.get(project=project, name="code")
    assert (code.current.kind, code.current.label, code.current.config) == ("code", -1, {"source": source})
    page = client.get(reverse("lf_edit", args=[project.pk, code.pk])).content.decode()
    assert 'value="code" checked' in page and "return &#x27;SPAM&#x27; if" in page


def test_run_status_shows_how_far_an_lf_application_is(client, project, bob, alice, samples):
    lf = _lf(project, alice)
    LFVersion.objects.filter(pk=lf.current_id).update(status="running", n_rows=6, processed=3)
    client.force_login(bob)
    html = client.get(reverse("run_status", args=[project.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "Applying “song” (version 1): 3 of 6 samples" in html
    assert '<progress value="3" max="6">' in html
    assert 'hx-trigger="every 1s"' in html


def test_viewer_reads_a_field_rule_as_a_sentence(client, project, dana, alice, samples):
    lf = services.create_lf(
        project=project,
        user=alice,
        name="short",
        kind="field",
        label="HAM",
        config={"field": "text", "op": "word_count_lt", "value": 3},
    )
    client.force_login(dana)
    page = client.get(reverse("lf_edit", args=[project.pk, lf.pk])).content.decode()
    assert "text: the number of words &lt; 3" in page
