"""Rate limits of the REST API."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponse
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from integrations.models import ApiKey

logger = logging.getLogger(__name__)


# One redis-py client per cache connection: Django's RedisCache builds a new client object for
# every call (cheap for Redis, not for Python: it cost as much as the round trip itself).
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _redis(cache: RedisCache):
    connection = cache._cache  # Django's RedisCacheClient: its pools, its serializer
    client = _clients.get(connection)
    if client is None:
        client = _clients[connection] = connection.get_client(None, write=True)
    return client


def window_counts(key: str, *, window: int, duration: int) -> tuple[int, int]:
    """Count one more hit in window ``window`` of ``key``; return (this window's count, the previous one's).

    On Redis (production) this is one round trip: INCR and EXPIRE of this window's counter and a
    GET of the previous one, pipelined, atomic per counter whatever the number of processes. Other
    backends (the local memory of ``make run``) use the cache API.
    """
    current, previous = f"{key}:{window}", f"{key}:{window - 1}"
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # Django's own connection pool; its serializer stores integers as plain integers, so
        # INCR and the cache API read the same value.
        client = _redis(cache)
        current_key, previous_key = cache.make_and_validate_key(current), cache.make_and_validate_key(previous)
        pipe = client.pipeline(transaction=False)
        pipe.incr(current_key)
        pipe.expire(current_key, duration * 2)
        pipe.get(previous_key)
        count, _, before = pipe.execute()
        return int(count), int(before or 0)
    cache.add(current, 0, duration * 2)
    return cache.incr(current), int(cache.get(previous) or 0)


def window_uncount(key: str, *, window: int) -> None:
    """Take back the hit ``window_counts`` counted for a refused request: only served ones count."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        current = cache.make_and_validate_key(f"{key}:{window}")
        _redis(cache).decr(current)
    else:
        cache.decr(f"{key}:{window}")


def whole_seconds(seconds: float) -> int:
    """Rounded up to whole seconds (headers carry integers), ignoring float noise: 20.000000000000004 is 20."""
    return math.ceil(round(seconds, 6))


class TokenRateThrottle(SimpleRateThrottle):
    """``API_RATE_LIMIT`` requests per API token (per user for a browser session, per address otherwise).

    A sliding-window counter: the count of the current window (of the rate's duration) plus the
    previous window's, weighted by how much of it still overlaps the last ``duration`` seconds.
    Two small counters per caller in the cache (Redis in production, so the limit holds across
    every process and container) and one round trip per served request, where a log of
    timestamps would read and write a list as long as the limit. Refused requests are not counted
    (as with DRF's own throttles): a caller who waits the ``Retry-After`` gets through.

    While the cache is unreachable requests are let through (and logged): the limit protects the
    service, and refusing every API call during a Redis outage would do the harm it is there to
    prevent.
    """

    scope = "token"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window, into = divmod(now, self.duration)
        try:
            count, before = window_counts(self.key, window=int(window), duration=self.duration)
        except Exception as exc:  # the cache backend's connection errors (redis-py, or another backend's)
            logger.warning("API rate limit not applied: the cache is unreachable (%s)", type(exc).__name__)
            return True
        overlap = (self.duration - into) / self.duration
        estimate = count + before * overlap
        if estimate <= self.num_requests:
            self._report(
                remaining=self.num_requests - estimate, reset=self._wait(count=count, before=before, into=into)
            )
            return True
        count -= 1
        try:
            window_uncount(self.key, window=int(window))
        except Exception as exc:
            logger.warning("API rate limit: a refused request stays counted (%s)", type(exc).__name__)
        self._retry_after = self._wait(count=count, before=before, into=into)
        self._report(remaining=0, reset=self._retry_after)
        return False

    def _wait(self, *, count: int, before: int, into: float) -> float:
        """Seconds until one more request fits (``count``: this window's served requests).

        In this window, ``(count + 1) + before × overlap`` must come down to the limit as the
        previous window's weight falls. If it can't (this window alone is full), the request fits
        in the next window once this window's ``count``, now the previous one, weighs little
        enough: ``1 + count × overlap ≤ limit``. Waiting only for the window's end (what this
        answered before) met a second 429 there, as the full window still weighed in entirely.
        """
        limit, duration = self.num_requests, self.duration
        left_in_window = duration - into
        if count + 1 <= limit:
            if before == 0:
                return 0.0
            return max(0.0, left_in_window - (limit - count - 1) * duration / before)
        into_next = duration * (1 - (limit - 1) / count) if count > 0 else 0.0
        return left_in_window + max(0.0, into_next)

    def _report(self, *, remaining: float, reset: float) -> None:
        """What the response's rate-limit headers say (``RateLimitHeadersMiddleware``)."""
        state = _state.get(None)
        if state is not None:
            state.update(limit=self.num_requests, window=self.duration, remaining=remaining, reset=reset)

    def wait(self) -> float:
        return max(1, whole_seconds(getattr(self, "_retry_after", self.duration)))

    def timer(self) -> float:
        return time.time()

    def get_rate(self) -> str | None:
        # Read the setting now, not at import, so tests and settings changes take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiKey):
            ident = f"k{request.auth.prefix}"
        elif isinstance(request.auth, Token):
            ident = "t" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:24]
        elif request.user and request.user.is_authenticated:
            ident = f"u{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


# --- the rate-limit headers -----------------------------------------------------------------


@dataclass
class RateLimitState:
    limit: int = 0
    window: int = 0
    remaining: float = 0.0
    reset: float = 0.0
    counted: bool = False

    def update(self, *, limit: int, window: int, remaining: float, reset: float) -> None:
        self.limit, self.window, self.remaining, self.reset, self.counted = limit, window, remaining, reset, True


_state: contextvars.ContextVar[RateLimitState] = contextvars.ContextVar("textdesk_rate_limit")


class RateLimitHeadersMiddleware:
    """Every API response says the caller's limit before it bites.

    Both forms clients know: the IETF draft's ``RateLimit-Policy: "default";q=600;w=60`` and
    ``RateLimit: "default";r=599;t=0`` (draft-ietf-httpapi-ratelimit-headers), and the
    ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` trio (GitHub's, Stripe's clients). ``t`` and
    ``X-RateLimit-Reset`` are the seconds until one more request fits (0 while there is room);
    on a 429 they equal ``Retry-After``, after which the request is served.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith("/api/"):
            return self.get_response(request)
        state = RateLimitState()
        token = _state.set(state)
        try:
            response = self.get_response(request)
        finally:
            _state.reset(token)
        if state.counted:
            remaining, reset = max(0, math.floor(state.remaining + 1e-9)), max(0, whole_seconds(state.reset))
            if response.status_code == 429:
                remaining, reset = 0, max(1, reset)
            response["RateLimit-Policy"] = f'"default";q={state.limit};w={state.window}'
            response["RateLimit"] = f'"default";r={remaining};t={reset}'
            response["X-RateLimit-Limit"] = str(state.limit)
            response["X-RateLimit-Remaining"] = str(remaining)
            response["X-RateLimit-Reset"] = str(reset)
        return response
