"""Operations middleware."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .metrics import WEBHOOK_SECONDS


class WebhookLatencyMiddleware:
    """Times the Twilio webhooks (``textdesk_webhook_seconds``): Twilio gives up on a slow answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith("/webhooks/"):
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        endpoint = match.url_name if match is not None and match.url_name else "unknown"
        # One series per webhook whichever form of its URL Twilio was given (messaging/urls.py).
        endpoint = endpoint.removesuffix("_no_slash")
        WEBHOOK_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response
