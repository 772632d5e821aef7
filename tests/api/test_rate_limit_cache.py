"""The API rate limit lives in the shared cache (Redis in production), and a Redis outage does not take the API down."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.django_db

REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"


def test_the_rate_limit_is_counted_in_redis_where_every_process_sees_it(api, settings):
    import redis

    settings.CACHES = {"default": {"BACKEND": REDIS_CACHE, "LOCATION": settings.REDIS_URL, "KEY_PREFIX": "ratetest"}}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/min"}}
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("ratetest:*"):
        client.delete(key)
    try:
        statuses = [api.get("/api/v1/templates/").status_code for _ in range(3)]
        keys = [key.decode() for key in client.scan_iter("ratetest:*throttle_token_*")]
    finally:
        for key in client.scan_iter("ratetest:*"):
            client.delete(key)
        client.close()

    assert statuses == [200, 200, 429]
    assert len(keys) == 1  # one counter per token and window, in Redis: another process would read the same


def test_the_api_answers_while_the_rate_limit_cache_is_unreachable(api, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": REDIS_CACHE,
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

    with caplog.at_level(logging.WARNING, logger="config.throttling"):
        response = api.get("/api/v1/templates/")

    assert response.status_code == 200
    assert "rate limit not applied" in caplog.text
