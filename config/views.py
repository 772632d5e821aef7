"""Project-level views: liveness and readiness.

``/healthz/live`` says the process answers (no dependency is asked): restart the container
when it fails. ``/healthz/ready`` says whether this web node can do its work: send traffic to
it when it answers 200. ``/healthz`` is kept as the readiness check for existing probes.

Readiness fails (503) only without the database, without which web can do nothing. A broker
(Redis) outage is reported, not failed: web still serves the cards and the inbox, takes
Twilio's STOP and status webhooks (consent must be recorded whatever else is down) and accepts
texts, which wait as committed ``queued`` rows until the sweeper hands them to the broker again.
Taking every web node out of the load balancer for it would lose exactly those. A late beat
heartbeat is reported the same way (web does not need beat; the operator does, see /metrics).

Bodies carry status words only; what failed, and why, goes to the log (hosts, ports and
roles in an error message are for operators, not for whoever can reach the probe).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

OK, UNAVAILABLE = "ok", "unavailable"


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("readiness: the database is unreachable")
        return UNAVAILABLE
    return OK


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return OK  # tasks run in-process; there is no broker to reach
    from config.celery import app

    try:
        # The broker named in settings, tried once without the retry back-off: a health check
        # must answer within the prober's timeout.
        with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception:
        logger.exception("readiness: the Celery broker is unreachable")
        return UNAVAILABLE
    return OK


def _check_beat() -> str:
    from ops.services import heartbeat_age, heartbeat_state

    try:
        state = heartbeat_state(heartbeat_age())
    except Exception:
        logger.exception("readiness: could not read the beat heartbeat")
        return UNAVAILABLE
    if state != OK:
        logger.warning("readiness: the beat heartbeat is %s", state)
    return state


@never_cache
@require_safe
def healthz_live(request: HttpRequest) -> JsonResponse:
    """200 as long as the process answers requests."""
    return JsonResponse({"status": OK})


@never_cache
@require_safe
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """200 while the database answers (``degraded`` when the broker or beat does not), else 503."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    checks["beat"] = _check_beat() if checks["database"] == OK else UNAVAILABLE
    if checks["database"] != OK:
        status = UNAVAILABLE
    elif any(value != OK for value in checks.values()):
        status = "degraded"
    else:
        status = OK
    return JsonResponse({"status": status, **checks}, status=503 if status == UNAVAILABLE else 200)


healthz = healthz_ready  # the original probe path, kept for existing load balancers
