"""The import page's suggestion of an id field: a column named like an id whose values are unique."""

import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.conftest import DATASETS, make_project, need

YOUTUBE = DATASETS / "youtube_spam_collection"


def _map_page(client, project, name: str, content: bytes) -> str:
    response = client.post(
        reverse("import_samples", args=[project.pk]), {"file": SimpleUploadedFile(name, content)}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    page = client.get(response["Location"])
    assert page.status_code == 200
    return page.content.decode()


def _selected_id(html: str) -> str:
    select = re.search(r'<select id="id_id_field".*?</select>', html, re.S).group(0)
    chosen = re.search(r'<option value="([^"]*)" selected>', select)
    return chosen.group(1) if chosen else ""


def test_a_unique_id_column_is_suggested_and_a_repeating_one_is_not(client, alice):
    need(YOUTUBE.is_dir(), f"the YouTube dataset is missing ({YOUTUBE})")
    project = make_project(alice, labels=("HAM", "SPAM"))
    client.force_login(alice)
    psy = _map_page(client, project, "Youtube01-Psy.csv", (YOUTUBE / "Youtube01-Psy.csv").read_bytes())
    assert _selected_id(psy) == "COMMENT_ID"
    assert "Not suggested as the id field" not in psy
    eminem = _map_page(
        client, project, "Youtube04-Eminem.csv", (YOUTUBE / "Youtube04-Eminem.csv").read_bytes()
    )
    # The README's repeats: lines 289 and 290 carry the same COMMENT_ID, so no id is suggested, and why.
    assert _selected_id(eminem) == ""
    assert re.search(r"<code>COMMENT_ID</code>, because &#x27;[^&]+&#x27; is on lines 289 and 290", eminem)


def test_the_surest_id_name_wins_and_names_that_only_end_in_id_are_not_ids(client, alice):
    project = make_project(alice, labels=("HAM", "SPAM"))
    client.force_login(alice)
    content = b"paid,text,user_id,id\nyes,a,u1,1\nno,b,u1,2\n"
    html = _map_page(client, project, "f.csv", content)
    assert _selected_id(html) == "id"
    assert "<code>user_id</code>, because &#x27;u1&#x27; is on lines 2 and 3" in html
    assert "<code>paid</code>" not in html
    html = _map_page(client, project, "g.csv", b"text,ref\na,1\nb,1\n")
    assert _selected_id(html) == ""
