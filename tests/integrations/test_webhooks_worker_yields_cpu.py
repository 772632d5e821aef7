"""A webhooks worker yields the CPU to the text workers: started on the ``webhooks`` queue alone it
lowers its own priority (``WEBHOOKS_WORKER_NICE``) on every thread before its pool starts; a text
worker, or one that takes texts too, keeps the normal priority."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# A real Celery worker as `celery worker -Q <queues>` builds it (queue selection, then ``worker_init``),
# not started: the niceness of the thread that starts the pool, of a thread that was already running
# (as the metrics server's is) and of one started afterwards (as the pool's are).
WORKER = """
import json, os, sys, threading
from config.celery import app
before = threading.Event()
ids = {}
def earlier():
    ids["earlier"] = threading.get_native_id()
    before.wait()
thread = threading.Thread(target=earlier)
thread.start()
app.WorkController(app=app, queues=sys.argv[1], pool_cls="solo", hostname="priority-test@here")
later = threading.Thread(target=lambda: ids.update(later=os.getpriority(os.PRIO_PROCESS, 0)))
later.start(); later.join()
print(json.dumps({"main": os.getpriority(os.PRIO_PROCESS, 0),
                  "earlier": os.getpriority(os.PRIO_PROCESS, ids["earlier"]), "later": ids["later"]}))
before.set()
"""


def _niceness(queues: str, **extra: str) -> dict[str, int]:
    env = {**os.environ, "DEBUG": "1", "CELERY_METRICS_PORT": "", **extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # the worker's own settings (config.settings), as compose runs it
    result = subprocess.run(
        [sys.executable, "-c", WORKER, queues], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="per-thread niceness is Linux's")
def test_a_webhooks_only_worker_lowers_its_priority_on_every_thread():
    base = os.getpriority(os.PRIO_PROCESS, 0)

    niceness = _niceness("webhooks")

    assert niceness == {"main": max(base, 10), "earlier": max(base, 10), "later": max(base, 10)}


@pytest.mark.parametrize("queues", ["celery", "celery,webhooks"])
def test_a_worker_that_sends_texts_keeps_its_priority(queues):
    base = os.getpriority(os.PRIO_PROCESS, 0)

    assert _niceness(queues) == {"main": base, "earlier": base, "later": base}


def test_the_niceness_is_a_setting_and_zero_keeps_the_priority():
    base = os.getpriority(os.PRIO_PROCESS, 0)

    assert _niceness("webhooks", WEBHOOKS_WORKER_NICE="0")["main"] == base
    assert _niceness("webhooks", WEBHOOKS_WORKER_NICE="5")["later"] == max(base, 5)


def test_compose_gives_the_webhooks_service_less_cpu_weight_than_the_text_workers():
    from django.conf import settings

    from config.celery import webhooks_worker_nice

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    hooks, texts = services["webhooks"], services["worker"]
    hooks_queues = hooks["command"][hooks["command"].index("--queues") + 1].split(",")
    texts_queues = texts["command"][texts["command"].index("--queues") + 1].split(",")

    assert hooks.get("cpu_shares", 1024) < texts.get("cpu_shares", 1024)
    assert webhooks_worker_nice(hooks_queues) == settings.WEBHOOKS_WORKER_NICE > 0
    assert webhooks_worker_nice(texts_queues) == 0
