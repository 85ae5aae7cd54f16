"""Token sign-in is throttled, so passwords cannot be guessed at full speed."""

from django.core.cache import cache

from config.token_view import TokenThrottle


def test_token_sign_in_answers_429_past_the_rate(db, client, monkeypatch, alice):
    monkeypatch.setattr(TokenThrottle, "THROTTLE_RATES", {"token": "3/min"})
    cache.clear()
    answers = [
        client.post("/api/token/", {"username": "alice", "password": "wrong"}).status_code for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    cache.clear()


def test_a_right_password_gets_a_token(db, client, alice):
    cache.clear()
    response = client.post("/api/token/", {"username": "alice", "password": "pw-for-tests-1"})
    assert response.status_code == 200
    assert response.json()["token"]


def test_a_forged_forwarded_for_header_does_not_pick_a_fresh_bucket(db, client, monkeypatch, alice):
    monkeypatch.setattr(TokenThrottle, "THROTTLE_RATES", {"token": "3/min"})
    cache.clear()
    answers = [
        client.post(
            "/api/token/", {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}"
        ).status_code
        for i in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    cache.clear()


def test_failed_api_sign_ins_lock_the_username_as_the_browser_form_does(db, client, settings, alice):
    settings.CHORUS_SIGNIN_MAX_FAILURES = 2
    cache.clear()
    for _ in range(2):
        wrong = client.post("/api/token/", {"username": "alice", "password": "wrong"})
        assert wrong.status_code == 400 and "do not match" in wrong.json()["message"]
    blocked = client.post("/api/token/", {"username": "alice", "password": "pw-for-tests-1"})
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.json()["message"]
    # The browser form counts the same failures.
    assert client.post("/login/", {"username": "alice", "password": "pw-for-tests-1"}).status_code == 429
    cache.clear()
