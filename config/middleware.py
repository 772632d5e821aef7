"""Project middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .views import healthz


class HealthCheckMiddleware:
    """Answer ``/healthz`` before ``ALLOWED_HOSTS`` and the HTTPS redirect are applied.

    Docker's healthcheck and load balancers call it by IP over plain HTTP
    (``Host: 127.0.0.1:8000``); in production both checks would refuse that request, and the
    container would be marked unhealthy while the site is fine.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz":
            return healthz(request)
        return self.get_response(request)
