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
