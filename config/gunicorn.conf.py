"""gunicorn settings for production: compose's ``web``, the Dockerfile's CMD and the
production-topology test (``gunicorn -c config/gunicorn.conf.py config.wsgi:application``).

What is here holds everywhere (a command line may still give ``--workers``/``--threads``):

- the shape, chosen by measurement: gthread, 2 processes × 8 threads (below);

- the start is refused on the settings ``check --deploy`` refuses (``ops.checks``);
- Prometheus multiprocess mode: ``PROMETHEUS_MULTIPROC_DIR`` is emptied at start and a dead
  worker's samples are marked, so ``/metrics`` adds up every process of the container;
- timeouts below the proxy's and the compose stop grace period (README "Deploy");
- logs as JSON lines like the application's (zoned ISO times), the access log's request id,
  method, path, status and duration as fields (``core.logs.AccessLogFields``).
"""

from __future__ import annotations

import os
import shutil

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# The shape, by measurement (bench/RESULTS.md "gunicorn shapes", ``make bench-gunicorn``: sync ×4 and
# ×5, gthread 2×8, 3×4 and 4×2 taking turns in one run, webhooks and the send API on each): 2×8 had
# the best status-callback and send p99, the most sends per second and a send ÷ baseline of 0.88×
# against 3×4's 0.76×; sync ×4, best for inbound texts alone, sends at half the rate (also
# ``make bench-api``). For a 2-core container; compose's DB_POOL_MAX_SIZE is ``threads``.
worker_class = "gthread"
workers = 2
threads = 8
# A request slower than this is abandoned (nothing in a request calls the SMS provider).
timeout = 30
# SIGTERM: requests in flight get this long to finish (compose's stop_grace_period is longer).
graceful_timeout = 25
# The longest request line gunicorn reads (its maximum). Django's guard answers 414 from
# config.input_guard.MAX_URI_LENGTH on, as JSON under /api/: gunicorn's own 414 is an HTML page.
limit_request_line = 8190
keepalive = 5  # the proxy keeps connections to us open; its own idle timeout is longer
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

if os.environ.get("LOG_FORMAT", "plain" if os.environ.get("DEBUG", "") in ("1", "true", "True") else "json") == "json":
    _json = {
        "()": "core.logs.JsonLogFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    }
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": _json},
        "filters": {"access_fields": {"()": "core.logs.AccessLogFields"}},
        "handlers": {
            "json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["access_fields"],
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"level": "INFO", "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)  # samples of an earlier run would be added up
        os.makedirs(directory, exist_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.exceptions import ImproperlyConfigured

    from ops.checks import refuse_unsafe_start

    try:
        refuse_unsafe_start()
    except ImproperlyConfigured as exc:
        server.log.error("%s", exc)
        raise SystemExit(1) from exc


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
