"""The Celery application: configured from Django settings (``CELERY_*``), tasks found per app."""

from __future__ import annotations

import os
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
