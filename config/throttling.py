"""Rate limits of the REST API."""

from __future__ import annotations

import hashlib
import logging

from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from integrations.models import ApiKey

logger = logging.getLogger(__name__)


class TokenRateThrottle(SimpleRateThrottle):
    """``API_RATE_LIMIT`` requests per API token (per user for a browser session, per address otherwise).

    The history lives in the cache, Redis in production, so the limit holds across every process
    and container. While the cache is unreachable requests are let through (and logged): the
    limit protects the service, and refusing every API call during a Redis outage would do the
    harm it is there to prevent.
    """

    scope = "token"

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend's connection errors (redis-py, or another backend's)
            logger.warning("API rate limit not applied: the cache is unreachable (%s)", type(exc).__name__)
            return True

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
