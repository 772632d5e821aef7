"""The Celery application: configured from Django settings (``CELERY_*``), tasks found per app."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable
from typing import Any

from celery import Celery
from celery.signals import beat_init, before_task_publish, task_postrun, task_prerun, worker_init

from core import tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Celery's Django fix-up runs every system check when a worker starts and ignores what they find
# (about a CPU-second per worker process: the URLconf, the models, the API schema). What must
# stop a worker is refused by ``_refuse_unsafe_start`` below; the rest is ``manage.py check``'s job.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("textdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(task: Any = None, **kwargs: Any) -> None:
    """Treat each task like a request: drop a connection that broke or outlived ``CONN_MAX_AGE``.

    Celery's fix-up would close them all after every task (see ``CELERY_DB_REUSE_MAX``); this keeps
    healthy connections across tasks and still recovers from a terminated one. Eager tasks run
    inside the caller's request or transaction, whose connection is not ours to touch.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


before_task_publish.connect(tracing.task_publish_add_request_id, weak=False)
task_prerun.connect(tracing.task_bind_request_id, weak=False)
task_postrun.connect(tracing.task_unbind_request_id, weak=False)


@worker_init.connect
@beat_init.connect
def _refuse_unsafe_start(**kwargs: Any) -> None:
    """A worker or beat with DEBUG=0 does not start on the settings ``check --deploy`` refuses."""
    from django.core.exceptions import ImproperlyConfigured

    from ops.checks import refuse_unsafe_start

    try:
        refuse_unsafe_start()
    except ImproperlyConfigured as exc:
        # SystemExit, not the exception: Celery logs and swallows exceptions raised by signal handlers.
        raise SystemExit(str(exc)) from exc


def webhooks_worker_nice(queues: Iterable[str]) -> int:
    """The niceness a worker consuming ``queues`` runs at: ``WEBHOOKS_WORKER_NICE`` when they are all
    webhooks queues (``WEBHOOKS_QUEUES``), else 0 (a text worker, or one that takes texts too)."""
    from django.conf import settings

    names = set(queues)
    if names and names <= set(settings.WEBHOOKS_QUEUES):
        return max(0, settings.WEBHOOKS_WORKER_NICE)
    return 0


def process_priority_lower(nice: int) -> int:
    """Raise this process's niceness to at least ``nice``, on every thread it has; its niceness after.

    Linux keeps a niceness per thread (``setpriority`` on 0 changes the calling thread only, and a
    new thread takes its creator's), so a thread started before this call (the metrics server's)
    is lowered by its id. Never raises the priority back: a worker started under ``nice`` keeps it.
    """
    if nice <= os.getpriority(os.PRIO_PROCESS, 0):
        return os.getpriority(os.PRIO_PROCESS, 0)
    threads = [int(tid) for tid in os.listdir("/proc/self/task")] if os.path.isdir("/proc/self/task") else [0]
    for tid in threads:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


@worker_init.connect
def _lower_webhooks_worker_priority(sender: Any = None, **kwargs: Any) -> None:
    """A worker consuming only the webhooks queues yields the CPU to text workers (``WEBHOOKS_WORKER_NICE``).

    Decided by the worker itself from the queues it was started on (``-Q``), before its pool starts
    (threads and forked processes inherit it), so compose, a systemd unit and the benchmarks' rig
    all get it without saying so. A text worker's ``add_consumer`` later changes nothing.
    """
    if sender is None:
        return
    nice = webhooks_worker_nice(sender.app.amqp.queues.consume_from)
    if nice:
        now = process_priority_lower(nice)
        logging.getLogger(__name__).info("webhooks worker: niceness %s (WEBHOOKS_WORKER_NICE)", now)
