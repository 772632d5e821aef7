"""Project middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ops.metrics import metrics

from .views import healthz_live, healthz_ready

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
