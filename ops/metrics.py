"""Prometheus metrics at ``/metrics`` (bearer ``METRICS_TOKEN``; 404 without one).

Two kinds, chosen for being right however many processes and containers run:

- **From the records, at scrape time** (``OutboxCollector``): texts queued, sent and failed by
  reason, the outbox by status, the age of the oldest queued text, the broker's queue depth and
  the beat heartbeat's age. The outbox is the ledger of every text (rows are never deleted), so
  counting it gives exact totals that every web container answers alike, survive restarts and
  include the sends workers make (a worker has no HTTP endpoint to scrape). The cost is three
  indexed aggregate queries and one Redis ``LLEN`` per scrape.
- **In-process** (``WEBHOOK_SECONDS``): the latency of the Twilio webhooks, a histogram only the
  process that answered can observe. Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (compose
  and config/gunicorn.conf.py do): each process writes its samples there and a scrape adds up
  every process of the container. Prometheus scrapes each web container directly (README
  "Deploy"), not through the proxy, which refuses ``/metrics``.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .services import heartbeat_age

logger = logging.getLogger(__name__)

# Not in prometheus_client's global registry: each scrape builds its own (see ``registry``).
WEBHOOK_SECONDS = Histogram(
    "textdesk_webhook_seconds",
    "Time to answer a Twilio webhook, by endpoint.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)


def broker_queue_depth() -> int | None:
    """Tasks waiting in the broker's default queue (``None`` when tasks run eagerly or Redis is down)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return None
    import redis

    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        try:
            return int(client.llen("celery"))
        finally:
            client.close()
    except redis.RedisError as exc:
        logger.warning("metrics: broker unreachable: %s", exc)
        return None


class OutboxCollector(Collector):
    """Texts and the schedule, read from the database and the broker when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        from messaging.models import Message

        outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
        totals = outbound.aggregate(
            queued=Count("pk", filter=Q(queued_at__isnull=False)),
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            oldest_queued=Min("queued_at", filter=Q(status=Message.Status.QUEUED)),
        )
        yield CounterMetricFamily("textdesk_texts_queued", "Outbound texts ever queued for sending.", totals["queued"])
        yield CounterMetricFamily("textdesk_texts_sent", "Outbound texts the provider accepted.", totals["sent"])
        failed = CounterMetricFamily(
            "textdesk_texts_failed", "Outbound texts that failed or were undelivered, by reason.", labels=["reason"]
        )
        rows = (
            outbound.filter(status__in=[Message.Status.FAILED, Message.Status.UNDELIVERED])
            .values_list("error_code")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for reason, n in rows:
            failed.add_metric([reason or "unknown"], n)
        yield failed

        by_status = GaugeMetricFamily("textdesk_texts", "Outbound texts by current status.", labels=["status"])
        counts = dict(outbound.values_list("status").annotate(n=Count("pk")).order_by())
        for status in Message.Status.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status

        oldest = totals["oldest_queued"]
        yield GaugeMetricFamily(
            "textdesk_oldest_queued_text_age_seconds",
            "Age of the oldest text waiting in queued (0 when none): grows when no worker sends.",
            (timezone.now() - oldest).total_seconds() if oldest else 0.0,
        )
        depth = broker_queue_depth()
        if depth is not None:
            yield GaugeMetricFamily("textdesk_queue_depth", "Tasks waiting in the Celery broker queue.", depth)
        age = heartbeat_age()
        if age is not None:
            yield GaugeMetricFamily(
                "textdesk_beat_heartbeat_age_seconds", "Seconds since the beat schedule last ran on a worker.", age
            )


def registry() -> CollectorRegistry:
    """A registry for one scrape: this container's processes (multiprocess mode) or this process."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(scrape)
    else:
        scrape.register(WEBHOOK_SECONDS)
    scrape.register(OutboxCollector())
    return scrape


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition, for ``Authorization: Bearer <METRICS_TOKEN>`` only."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("No metrics here.")
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("A valid bearer token is required.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
