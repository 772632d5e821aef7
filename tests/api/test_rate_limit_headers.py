"""Every API response says the caller's limit (IETF RateLimit and the X-RateLimit trio), and a
429's Retry-After, honoured, gets the request served."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from config.throttling import TokenRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(settings, monkeypatch, agent):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/min"}}
    cache.clear()
    now = [120_000.0 + 50]  # 50 s into a minute
    monkeypatch.setattr(TokenRateThrottle, "timer", lambda self: now[0])
    yield now, {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=agent).key}"}
    cache.clear()


def test_each_response_counts_down_and_the_429_says_when(client, limited):
    now, auth = limited
    answers = [client.get("/api/v1/templates/", **auth) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    for served, left in zip(answers[:3], (2, 1, 0), strict=True):
        assert served["RateLimit-Policy"] == '"default";q=3;w=60'
        assert served["X-RateLimit-Limit"] == "3"
        assert served["X-RateLimit-Remaining"] == str(left)
        assert served["RateLimit"].startswith(f'"default";r={left};t=')
    refused = answers[3]
    wait = int(refused["Retry-After"])
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Reset"] == str(wait)
    assert refused["RateLimit"] == f'"default";r=0;t={wait}'
    assert wait == 10 + 20  # the minute's last 10 s, then until 3 × (60 - t)/60 ≤ 2: 20 s into the next

    now[0] += wait - 1
    assert client.get("/api/v1/templates/", **auth).status_code == 429
    now[0] += 1
    assert client.get("/api/v1/templates/", **auth).status_code == 200


def test_pages_outside_the_api_carry_no_rate_limit_headers(client, agent):
    client.force_login(agent)
    response = client.get("/")

    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response
