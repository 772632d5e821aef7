"""A real Celery worker process for the ``worker``-marked tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


class CeleryWorker:
    """``celery -A config worker`` in its own process group, against the test database and Redis.

    It sees what the test commits (use ``transactional_db``), sends through the Twilio-compatible
    server, and can be SIGKILLed mid-run like a crashed container.
    """

    def __init__(self, *, env: dict[str, str], options: tuple[str, ...] = ("--concurrency", "4")) -> None:
        self.env = env
        self.options = options
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self, *, timeout: float = 40.0) -> CeleryWorker:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--pool", "threads",
                 *self.options, "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", self.name],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the Celery worker did not start:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker, as the OOM killer or a lost host would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def celery_workers(transactional_db, twilio_server, settings):
    """Start real workers with ``celery_workers(**env)``; tasks from this test go to them through Redis."""
    from config.celery import app

    # Start from an empty queue: no task left over from an earlier run may reach these workers.
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery", "webhooks", "unacked", "unacked_index", "unacked_mutex")
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    started: list[CeleryWorker] = []

    def start(*, options: tuple[str, ...] = ("--concurrency", "4"), **overrides: str) -> CeleryWorker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "SMS_BACKEND": "twilio",
            "TWILIO_API_BASE_URL": twilio_server.url,
            "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": "",
            "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
            "SECRET_KEY": "worker-test-" + "k" * 50,  # a production start refuses a weak one (textdesk.E006)
            # The worker re-checks texting hours at claim time; the tests text at any hour (caps still hold).
            "TEXTING_LAW_WINDOWS_OFF_FOR_TESTS": "1" if settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS else "0",
            "SILENCED_SYSTEM_CHECKS": "textdesk.E005",  # which a production start refuses (ops/checks.py)
            "LOG_LEVEL": "INFO",
            **overrides,
        }
        worker = CeleryWorker(env=env, options=options)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
        worker.log.unlink(missing_ok=True)
    app.conf.task_always_eager = was_eager
    broker.delete("celery", "webhooks", "unacked", "unacked_index", "unacked_mutex")
    broker.close()
