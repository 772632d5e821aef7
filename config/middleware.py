"""Project middleware."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from core import replica
from ops.metrics import metrics

from .views import healthz_live, healthz_ready

logger = logging.getLogger(__name__)

# Probes and the metrics scrape: answered before ALLOWED_HOSTS and the HTTPS redirect.
PROBES = {
    "/healthz": healthz_ready,
    "/healthz/ready": healthz_ready,
    "/healthz/live": healthz_live,
    "/metrics": metrics,
}


class HealthCheckMiddleware:
    """Answer the health probes and ``/metrics`` before ``ALLOWED_HOSTS`` and the HTTPS redirect.

    Docker's healthcheck, load balancers and Prometheus call them by IP or container name over
    plain HTTP (``Host: 127.0.0.1:8000``, ``web:8000``); in production both checks would refuse
    that request, and the container would be marked unhealthy while the site is fine. ``/metrics``
    has its own bearer token; the proxy does not pass it on from outside.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = PROBES.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)


class ReadYourWritesMiddleware:
    """Whoever just wrote reads the primary for ``READ_YOUR_WRITES_SECONDS`` (only with a replica).

    A request that wrote to the primary (any statement that changes rows: ``core.replica.is_write``)
    leaves a mark: a signed cookie with its time for the browser, and a cache key named after the
    ``Authorization`` header (an API key; integrators keep no cookies) when there is one. A later
    request carrying a fresh mark runs pinned to the primary (``core.replica.primary_pinned``), so its
    ``replica_ok()`` reads see what the caller just did: the agent who assigned a conversation finds it
    under "Mine", the integrator who created a lead finds it in the list. Without a replica configured
    this middleware does nothing.
    """

    COOKIE = "textdesk_wrote"
    SALT = "textdesk.read-your-writes"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica.configured():
            return self.get_response(request)
        with replica.primary_pinned(self._wrote_lately(request)), replica.writes_watched() as watch:
            response = self.get_response(request)
        if watch.wrote:
            self._remember(request, response)
        return response

    @staticmethod
    def _window() -> float:
        return float(settings.READ_YOUR_WRITES_SECONDS)

    def _key(self, request: HttpRequest) -> str | None:
        credential = request.headers.get("Authorization", "")
        return "read-your-writes:" + hashlib.sha256(credential.encode()).hexdigest() if credential else None

    def _wrote_lately(self, request: HttpRequest) -> bool:
        window = self._window()
        fresh = timedelta(seconds=window)
        if request.get_signed_cookie(self.COOKIE, default=None, salt=self.SALT, max_age=fresh) is not None:
            return True
        key = self._key(request)
        if key is None:
            return False
        try:
            wrote_at = cache.get(key)
        except Exception as exc:  # the cache backend's connection errors: the primary is always right
            logger.warning("read-your-writes: cache unreachable, reading the primary: %s", exc)
            return True
        return wrote_at is not None and time.time() - float(wrote_at) < window

    def _remember(self, request: HttpRequest, response: HttpResponse) -> None:
        window = self._window()
        response.set_signed_cookie(
            self.COOKIE,
            "1",
            salt=self.SALT,
            max_age=math.ceil(window),
            httponly=True,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
        key = self._key(request)
        if key is not None:
            try:
                cache.set(key, time.time(), timeout=math.ceil(window))
            except Exception as exc:  # the cache backend's connection errors
                logger.warning("read-your-writes: cache unreachable, the next request may read the replica: %s", exc)
