"""Celery task metrics, from Celery's own signals into prometheus_client: how many tasks ran, by task
and outcome, and how long they took.

A worker has no HTTP server of its own: with ``CELERY_METRICS_PORT`` set (compose's ``worker`` and
``webhooks`` services), the worker's main process serves these on that port (``prometheus_client``'s
``start_http_server``), every pool process added up through ``PROMETHEUS_MULTIPROC_DIR``, as gunicorn's
are. In ``make run`` and the tests, tasks run eagerly in the web process and ``/metrics`` shows them.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun, task_retry, worker_init
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

logger = logging.getLogger(__name__)

# Not in prometheus_client's global registry: ops.metrics.registry() and the worker's server add them.
TASKS = Counter(
    "textdesk_celery_tasks",
    "Celery tasks run, by task and outcome (succeeded, failed, retried).",
    ["task", "outcome"],
    registry=None,
)
TASK_SECONDS = Histogram(
    "textdesk_celery_task_seconds",
    "Time a Celery task ran, by task (every outcome).",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,
)

_started: dict[str, float] = {}


def _name(sender: Any) -> str:
    return getattr(sender, "name", None) or "unknown"


def on_prerun(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


def on_postrun(sender: Any = None, task_id: str | None = None, state: str | None = None, **kwargs: Any) -> None:
    started = _started.pop(task_id, None) if task_id else None
    if started is not None:
        TASK_SECONDS.labels(_name(sender)).observe(time.monotonic() - started)
    if state == "SUCCESS":
        TASKS.labels(_name(sender), "succeeded").inc()


def on_failure(sender: Any = None, **kwargs: Any) -> None:
    TASKS.labels(_name(sender), "failed").inc()


def on_retry(sender: Any = None, **kwargs: Any) -> None:
    TASKS.labels(_name(sender), "retried").inc()


def on_worker_init(**kwargs: Any) -> None:
    """Serve the worker's metrics on ``CELERY_METRICS_PORT`` (unset: not served)."""
    port = os.environ.get("CELERY_METRICS_PORT")
    if not port:
        return
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(TASKS)
        registry.register(TASK_SECONDS)
    start_http_server(int(port), registry=registry)
    logger.info("celery metrics served on port %s", port)


def connect() -> None:
    """Listen to Celery's task signals (``OpsConfig.ready``); each receiver is connected once."""
    task_prerun.connect(on_prerun, dispatch_uid="ops.celery_metrics.prerun", weak=False)
    task_postrun.connect(on_postrun, dispatch_uid="ops.celery_metrics.postrun", weak=False)
    task_failure.connect(on_failure, dispatch_uid="ops.celery_metrics.failure", weak=False)
    task_retry.connect(on_retry, dispatch_uid="ops.celery_metrics.retry", weak=False)
    worker_init.connect(on_worker_init, dispatch_uid="ops.celery_metrics.worker_init", weak=False)
