"""Prometheus metrics at ``/metrics`` (bearer ``METRICS_TOKEN``; 404 without one).

Four kinds, chosen for being right however many processes and containers run:

- **The outbox's totals, counted once for the cluster** (``OutboxCollector``): texts queued, sent
  and failed by reason, and by status. The outbox is the ledger of every text (rows are never
  deleted), so counting it gives exact totals that survive restarts and include the sends workers
  make (a worker has no HTTP endpoint to scrape). Counting it reads every outbound text, so it is
  not done per scrape in every web container: the periodic ``ops.tasks.outbox_tally`` counts once
  a minute into ``ops.OutboxTally`` and each scrape reads that one row. Every container exports the
  same values, labelled ``scope="cluster"``: aggregate them with ``max``, never ``sum``.
  ``textdesk_outbox_tally_age_seconds`` says how old they are.
- **Live, through an index** (``_live_gauges``): the age of the oldest queued text
  (``message_status_queued``), the broker's queue depth (one Redis ``LLEN``) and the beat
  heartbeat's age.
- **The webhook backlog, counted once for the cluster** (``_webhook_backlog``): deliveries
  pending by endpoint state and the age of the oldest on an active endpoint, counted by the same
  periodic task into ``ops.OutboxTally`` (name ``webhooks``); the age is taken at the scrape from
  the oldest's time as counted. The same for the events recorded and not made yet (the
  integrations outbox the ``webhooks`` worker drains).
- **In-process**: the latency of the Twilio webhooks (``WEBHOOK_SECONDS``), HTTP requests by view
  and method (django-prometheus's middlewares, ``django_http_*``) and Celery tasks by task and
  outcome with their duration (``ops.celery_metrics``; a worker serves its own on
  ``CELERY_METRICS_PORT``): only the process that answered or ran can observe them. Under
  gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (compose
  and config/gunicorn.conf.py do): each process writes its samples there and a scrape adds up
  every process of the container. Prometheus scrapes each web container directly (README
  "Deploy"), not through the proxy, which refuses ``/metrics``.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from core.replica import replica_ok

from .celery_metrics import TASK_SECONDS, TASKS
from .services import heartbeat_age, outbox_tally, webhook_backlog

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


# The cluster totals carry this label: every web container exports the same values (one tally), so
# a query adds them up with max(), never sum() across instances (README "Metrics").
CLUSTER = {"scope": "cluster"}


class OutboxCollector(Collector):
    """Texts and the schedule: the outbox's cluster totals as last counted, and a few live gauges."""

    def collect(self) -> Iterator[Metric]:
        from messaging.models import Message

        tally = outbox_tally()
        totals = tally.totals
        labels, values = list(CLUSTER), list(CLUSTER.values())
        yield _counter("textdesk_texts_queued", "Outbound texts ever queued for sending.", totals["queued"])
        yield _counter("textdesk_texts_sent", "Outbound texts the provider accepted.", totals["sent"])
        failed = CounterMetricFamily(
            "textdesk_texts_failed",
            "Outbound texts that failed or were undelivered, by reason.",
            labels=[*labels, "reason"],
        )
        for reason, n in sorted(totals["failed"].items()):
            failed.add_metric([*values, reason], n)
        yield failed
        by_status = GaugeMetricFamily("textdesk_texts", "Outbound texts by current status.", labels=[*labels, "status"])
        for status in Message.Status.values:
            by_status.add_metric([*values, status], totals["by_status"].get(status, 0))
        yield by_status
        yield GaugeMetricFamily(
            "textdesk_outbox_tally_age_seconds",
            "Seconds since the outbox totals were counted (ops.tasks.outbox_tally): grows when beat stops.",
            max(0.0, (timezone.now() - tally.at).total_seconds()),
        )
        yield from _live_gauges()
        yield from _webhook_backlog()


def _webhook_backlog() -> Iterator[Metric]:
    """The webhook backlog as last counted (``ops.tasks.outbox_tally``, once for the cluster)."""
    tally = webhook_backlog()
    labels, values = list(CLUSTER), list(CLUSTER.values())
    pending = GaugeMetricFamily(
        "textdesk_webhook_deliveries_pending",
        "Webhook deliveries waiting to be sent, by endpoint state (switched_off: they wait on purpose).",
        labels=[*labels, "endpoint"],
    )
    for state in ("active", "switched_off"):
        pending.add_metric([*values, state], tally.totals["pending"].get(state, 0))
    yield pending
    oldest = tally.totals.get("oldest_pending_at")
    age = (timezone.now() - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
    oldest_age = GaugeMetricFamily(
        "textdesk_webhook_oldest_pending_age_seconds",
        "Age of the oldest delivery waiting for an active endpoint (0 when none): grows when receivers fail "
        "or no webhooks worker runs.",
        labels=labels,
    )
    oldest_age.add_metric(values, max(0.0, age))
    yield oldest_age
    to_make = GaugeMetricFamily(
        "textdesk_webhook_events_to_make",
        "Webhook events recorded on the send path and not made yet (the outbox the webhooks worker drains).",
        labels=labels,
    )
    to_make.add_metric(values, tally.totals.get("events_to_make", 0))
    yield to_make
    oldest = tally.totals.get("oldest_to_make_at")
    age = (timezone.now() - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
    to_make_age = GaugeMetricFamily(
        "textdesk_webhook_oldest_event_to_make_age_seconds",
        "Age of the oldest event recorded and not made yet (0 when none): grows when no webhooks worker drains.",
        labels=labels,
    )
    to_make_age.add_metric(values, max(0.0, age))
    yield to_make_age


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=list(CLUSTER))
    family.add_metric(list(CLUSTER.values()), value)
    return family


def _live_gauges() -> Iterator[Metric]:
    """Read at each scrape, each through an index: the oldest queued text, the broker, the heartbeat."""
    from messaging.models import Message
    from messaging.partitions import default_partition_used

    # The first row of message_status_queued: one index probe, whatever the outbox's size.
    oldest = (
        Message.objects.filter(status=Message.Status.QUEUED, queued_at__isnull=False)
        .order_by("queued_at")
        .values_list("queued_at", flat=True)
        .first()
    )
    yield GaugeMetricFamily(
        "textdesk_oldest_queued_text_age_seconds",
        "Age of the oldest text waiting in queued (0 when none): grows when no worker sends.",
        (timezone.now() - oldest).total_seconds() if oldest else 0.0,
    )
    stray = default_partition_used()
    if stray is not None:  # PostgreSQL: a text no month partition took (the beat makes them ahead)
        yield GaugeMetricFamily(
            "textdesk_texts_default_partition",
            "1 when the DEFAULT partition of texts holds any: a month's partition was missing (alert on it).",
            int(stray),
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
        scrape.register(TASKS)
        scrape.register(TASK_SECONDS)
        scrape.register(REGISTRY)  # django-prometheus's request metrics (and the process's own)
    scrape.register(OutboxCollector())
    return scrape


@never_cache
@require_safe
@replica_ok()  # a scrape may be seconds behind (with a replica, it reads there: core/replica.py)
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
