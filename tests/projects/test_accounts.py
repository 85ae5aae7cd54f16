"""Accounts: password reset by email, and API tokens made, used and revoked in the browser."""

import re

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from projects.models import ApiToken
from tests.conftest import make_project


def _make_token(client, name="laptop"):
    response = client.post(reverse("api_tokens"), {"name": name})
    assert response.status_code == 201
    return re.search(r'id="new-key" type="text" readonly value="(chorus_[^"]+)"', response.content.decode())[
        1
    ]


def _api(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- password reset ------------------------------------------------------------------------------------------


def test_sign_in_page_links_to_password_reset(client, db):
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()


def test_password_reset_sends_a_link_that_sets_a_new_password(client, alice):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    link = re.search(r"https?://[^/]+(/password-reset/[^\s]+/)", mail.outbox[0].body)[1]
    form = client.get(link, follow=True)  # Django moves the token out of the URL into the session
    assert form.status_code == 200
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "a-fresh-pass-77", "new_password2": "a-fresh-pass-77"}
    )
    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-fresh-pass-77")
    # The link worked once.
    again = client.get(link, follow=True)
    assert "not valid any more" in again.content.decode()


def test_password_reset_for_an_unknown_email_sends_nothing_and_says_the_same(client, alice):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert "If an account has that email" in response.content.decode()
    assert mail.outbox == []


# --- API tokens ------------------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_works_for_the_api(client, alice):
    client.force_login(alice)
    make_project(alice, name="Mine")
    key = _make_token(client)
    response = _api(key).get("/api/projects/")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()] == ["Mine"]
    listing = client.get(reverse("api_tokens")).content.decode()
    assert "laptop" in listing
    assert key not in listing  # only its first characters are ever shown again
    assert key[:13] in listing


def test_only_a_digest_of_the_key_is_stored(client, alice):
    client.force_login(alice)
    key = _make_token(client)
    token = ApiToken.objects.get(user=alice)
    assert key not in (token.digest, token.prefix)
    assert len(token.digest) == 64


def test_a_user_has_several_named_tokens_and_revoking_one_keeps_the_others(client, alice):
    client.force_login(alice)
    laptop, server = _make_token(client, "laptop"), _make_token(client, "server")
    token = ApiToken.objects.get(user=alice, name="laptop")
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert _api(laptop).get("/api/projects/").status_code == 401
    assert _api(server).get("/api/projects/").status_code == 200


def test_a_token_without_a_name_is_refused_in_place(client, alice):
    client.force_login(alice)
    response = client.post(reverse("api_tokens"), {"name": "  "})
    assert response.status_code == 422
    assert "give the token a name" in response.content.decode().lower()
    assert not ApiToken.objects.exists()


def test_a_duplicate_token_name_is_refused(client, alice):
    client.force_login(alice)
    _make_token(client, "ci")
    response = client.post(reverse("api_tokens"), {"name": "ci"})
    assert response.status_code == 422
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_nobody_can_revoke_or_see_another_users_token(client, alice, eve):
    client.force_login(alice)
    _make_token(client, "alice's")
    token = ApiToken.objects.get(user=alice)
    client.force_login(eve)
    assert "alice&#x27;s" not in client.get(reverse("api_tokens")).content.decode()
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_the_tokens_page_needs_signing_in(client, db):
    response = client.get(reverse("api_tokens"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_token_records_when_it_was_last_used(client, alice):
    client.force_login(alice)
    key = _make_token(client)
    assert ApiToken.objects.get(user=alice).last_used_at is None
    _api(key).get("/api/projects/")
    assert ApiToken.objects.get(user=alice).last_used_at is not None


def test_a_made_up_key_is_refused(db):
    assert _api("chorus_not-a-real-key").get("/api/projects/").status_code == 401


def test_a_drf_authtoken_key_still_works_beside_named_tokens(alice):
    from tests.conftest import token_client

    assert token_client(alice).get("/api/projects/").status_code == 200


def test_a_signed_in_user_changes_their_password(client, alice):
    client.force_login(alice)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "pw-for-tests-1",
            "new_password1": "another-pass-42",
            "new_password2": "another-pass-42",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("another-pass-42")
    # Still signed in (Django keeps the session of the one who changed it).
    assert client.get(reverse("api_tokens")).status_code == 200


def test_a_new_password_revokes_every_api_token(client, alice):
    client.force_login(alice)
    named = _make_token(client)
    sign_in = client.post("/api/token/", {"username": "alice", "password": "pw-for-tests-1"}).json()["token"]
    assert _api(named).get("/api/projects/").status_code == 200
    assert _api(sign_in).get("/api/projects/").status_code == 200
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "pw-for-tests-1",
            "new_password1": "another-pass-42",
            "new_password2": "another-pass-42",
        },
        follow=True,
    )
    assert "Your 2 API tokens were revoked" in response.content.decode()
    assert _api(named).get("/api/projects/").status_code == 401
    assert _api(sign_in).get("/api/projects/").status_code == 401


def test_the_sign_in_token_is_listed_and_revoked_on_the_tokens_page(client, alice):
    key = APIClient().post("/api/token/", {"username": "alice", "password": "pw-for-tests-1"}).json()["token"]
    client.force_login(alice)
    page = client.get(reverse("api_tokens")).content.decode()
    assert 'id="sign-in-token"' in page and key[:6] in page and key not in page
    assert client.post(reverse("api_sign_in_token_revoke")).status_code == 302
    assert _api(key).get("/api/projects/").status_code == 401
    assert 'id="sign-in-token"' not in client.get(reverse("api_tokens")).content.decode()
    assert client.post(reverse("api_sign_in_token_revoke")).status_code == 404


@pytest.fixture
def sign_in_limits(settings):
    from django.core.cache import cache

    settings.CHORUS_SIGNIN_MAX_FAILURES = 3
    settings.CHORUS_SIGNIN_MAX_FAILURES_PER_ADDRESS = 6
    cache.clear()
    yield cache
    cache.clear()


def _sign_in(client, username, password="pw-for-tests-1", address="10.1.1.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failed_sign_ins_lock_that_username_at_that_address(client, alice, sign_in_limits):
    assert [_sign_in(client, "alice", "wrong").status_code for _ in range(3)] == [200, 200, 200]
    # Past the limit even the right password is refused until the window ends.
    blocked = _sign_in(client, "alice")
    assert blocked.status_code == 429
    assert 290 <= int(blocked["Retry-After"]) <= 300
    page = blocked.content.decode()
    assert "Too many failed sign-ins with this username from your address" in page
    assert "Try again in 5 minutes" in page
    assert "_auth_user_id" not in client.session
    sign_in_limits.clear()  # the window has passed
    assert _sign_in(client, "alice").status_code == 302


def test_another_person_at_the_same_address_signs_in_while_one_is_locked(client, alice, bob, sign_in_limits):
    for _ in range(3):
        _sign_in(client, "alice", "wrong")
    assert _sign_in(client, "alice").status_code == 429
    assert _sign_in(client, "bob").status_code == 302
    assert client.session["_auth_user_id"] == str(bob.pk)
    # And alice herself, from another address, is not locked either.
    client.logout()
    assert _sign_in(client, "alice", address="10.2.2.2").status_code == 302


def test_one_address_trying_many_usernames_is_stopped(client, alice, sign_in_limits):
    # Two wrong passwords each for three names stays under the per-name limit but reaches the address's.
    for name in ("alice", "bob", "carol"):
        for _ in range(2):
            assert _sign_in(client, name, "wrong").status_code == 200
    blocked = _sign_in(client, "alice")
    assert blocked.status_code == 429
    assert "from your address, with any username" in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    assert _sign_in(client, "someone-new", "wrong").status_code == 429
    # Another address is not held by it.
    assert _sign_in(client, "alice", address="10.2.2.2").status_code == 302


def test_a_locked_sign_in_reads_the_same_whether_the_account_exists(client, alice, sign_in_limits):
    for name, address in (("alice", "10.1.1.1"), ("nobody", "10.3.3.3")):
        for _ in range(3):
            _sign_in(client, name, "wrong", address)
    real, made_up = _sign_in(client, "alice"), _sign_in(client, "nobody", address="10.3.3.3")
    assert real.status_code == made_up.status_code == 429
    message = re.compile(r'<p class="error" role="alert">([^<]+)</p>')
    assert message.search(real.content.decode())[1] == message.search(made_up.content.decode())[1]


def test_a_right_password_clears_the_count_for_that_username(client, alice, sign_in_limits):
    for _ in range(2):
        _sign_in(client, "alice", "wrong")
    assert _sign_in(client, "alice").status_code == 302
    client.logout()
    for _ in range(2):
        assert _sign_in(client, "alice", "wrong").status_code == 200
    assert _sign_in(client, "alice").status_code == 302
