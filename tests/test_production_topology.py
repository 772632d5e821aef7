"""The production topology, as real processes on this machine (what compose runs, without Docker).

gunicorn with three processes on the production settings (``DEBUG=0``, the PostgreSQL pool,
the Redis cache, whitenoise serving collected static files, JSON logs, Prometheus multiprocess
mode), a Celery worker and Celery beat, against the suite's PostgreSQL test database and Redis,
sending through the Twilio-compatible server with the real SDK. The test plays the proxy: it
talks plain HTTP to gunicorn with ``X-Forwarded-Proto: https`` (``TRUSTED_PROXY=1``).

It checks what a deployment must hold: the API limit holds across processes (5 of 30
requests pass with ``API_RATE_LIMIT=5/min``, where per-process memory let 15 through), each
accepted text reaches the provider exactly once, its status callback lands, the request id
follows it into the worker's and web's logs, readiness sees the beat heartbeat, and /metrics
adds up the webhooks timed by all three processes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from django.db import connection
from rest_framework.authtoken.models import Token

from interactions.models import Membership
from interactions.services import consent_grant
from messaging.models import Message
from tests.factories import FacilityFactory, MembershipFactory, OrganizationFactory, PhoneNumberFactory
from tests.messaging.conftest import CeleryWorker

pytestmark = [
    pytest.mark.production,
    pytest.mark.worker,
    pytest.mark.postgres(reason="the production topology: gunicorn, a worker and beat share PostgreSQL"),
]

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "topology-" + secrets.token_hex(8)


class Server:
    """A process in its own session, logging to a file, stopped by its process group."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, *, timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


class Web:
    """gunicorn, reached as the proxy reaches it."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, *, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"X-Forwarded-Proto": "https", "Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def topology(transactional_db, twilio_server, settings, tmp_path):
    from config.celery import app

    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("celery", "unacked", "unacked_index", "unacked_mutex")
    for key in broker.scan_iter("textdesk:*throttle*"):
        broker.delete(key)
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False

    static_root = tmp_path / "static"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE_URL": twilio_server.url,
        "TWILIO_ACCOUNT_SID": settings.TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": settings.TWILIO_AUTH_TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
        "ALLOWED_HOSTS": "127.0.0.1,textdesk.test",
        "TRUSTED_PROXY": "1",
        "API_RATE_LIMIT": "5/min",
        "TEXTING_LAW_WINDOWS_OFF_FOR_TESTS": "1",  # sends at any hour of the suite; caps still hold
        "SILENCED_SYSTEM_CHECKS": "textdesk.E005",  # which production refuses (ops/checks.py)
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "BEAT_HEARTBEAT_SECONDS": "1",
        "BEAT_HEARTBEAT_MAX_AGE": "30",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "STATIC_ROOT": str(static_root),
        "DB_POOL_MAX_SIZE": "4",
        "STATICFILES_BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
    }
    env.pop("CACHE_BACKEND", None)
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert collected.returncode == 0, collected.stderr

    port = _free_port()
    started: list = []
    try:
        web = Server(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "4"],
            env=env,
            log=tmp_path / "web.log",
        )  # fmt: skip
        started.append(web)
        worker = CeleryWorker(env=env)
        started.append(worker)
        worker.start(timeout=90)
        beat = Server(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "--schedule", str(tmp_path / "celerybeat-schedule")],
            env=env,
            log=tmp_path / "beat.log",
        )  # fmt: skip
        started.append(beat)
        client = Web(port)
        assert _wait(lambda: _answers(client), timeout=90), web.output()[-3000:]
        yield client, web, worker, beat
    finally:
        for process in reversed(started):
            process.stop()
        app.conf.task_always_eager = was_eager
        broker.delete("celery", "unacked", "unacked_index", "unacked_mutex")
        broker.close()


def _answers(client: Web) -> bool:
    try:
        return client.request("GET", "/healthz/live")[0] == 200
    except OSError:
        return False


def _people(count: int):
    org = OrganizationFactory(name="Topology Storage", slug="topology")
    org.quiet_hours_start, org.quiet_hours_end = dt.time(0), dt.time(23, 59, 59, 999999)
    org.save()
    facility = FacilityFactory(organization=org, name="Topology Austin", sms_sender_number="+15125550100")
    agent = MembershipFactory(organization=org, role=Membership.Role.AGENT, user__username="topology").user
    phones = []
    for i in range(count):
        phone = PhoneNumberFactory(lead__facility=facility, number=f"+1512555{2000 + i:04d}")
        consent_grant(organization=org, number=phone.number, source="web_form", evidence="quote form")
        phones.append(phone)
    return Token.objects.create(user=agent).key, phones


def test_production_topology_sends_each_text_once_lands_callbacks_and_holds_the_limit_across_processes(
    topology, twilio_server
):
    client, web, worker, beat = topology
    token, phones = _people(30)

    # --- 30 API sends against 3 gunicorn processes, API_RATE_LIMIT=5/min ---------------------
    answers = []
    for i, phone in enumerate(phones):
        status, headers, body = client.request(
            "POST",
            "/api/v1/messages/",
            body={"phone_number": phone.pk, "body": f"Topology text {i}: your unit is ready."},
            headers={"Authorization": f"Token {token}", "X-Request-ID": f"topology-{i}"},
        )
        answers.append((status, headers.get("X-Request-ID"), body))
    passed = [(rid, json.loads(body)["id"]) for status, rid, body in answers if status == 201]
    statuses = sorted({status for status, _, _ in answers})

    assert len(passed) == 5, statuses
    assert statuses == [201, 429]
    assert [rid for rid, _ in passed] == [f"topology-{i}" for i in range(5)]

    # --- each accepted text reaches the provider once ----------------------------------------
    ids = [pk for _, pk in passed]
    sent = _wait(
        lambda: Message.objects.filter(pk__in=ids, status=Message.Status.SENT).count() == 5, timeout=60, step=0.5
    )
    assert sent, (list(Message.objects.filter(pk__in=ids).values_list("status", flat=True)), worker.output()[-3000:])
    assert twilio_server.created_count() == 5
    assert twilio_server.duplicates() == {}

    # --- status callbacks land through gunicorn ----------------------------------------------
    messages = list(Message.objects.filter(pk__in=ids).order_by("pk"))
    for message in messages:
        assert twilio_server.post_status_callback(message.provider_sid, "delivered", base_url=client.base)[0] == 200
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Message.Status.DELIVERED}

    # --- the request id follows each text: request → row → worker's log → SID → callback -----
    worker_lines = _json_lines(worker.output())
    assert _wait(lambda: "status callback" in web.output(), timeout=10)
    web_lines = _json_lines(web.output())
    for message in messages:
        rid = message.request_id
        assert rid.startswith("topology-")
        assert any(
            line.get("request_id") == rid and message.provider_sid in line["message"] for line in worker_lines
        ), f"no worker line for {rid}"
        assert any(line.get("request_id") == rid and "status callback" in line["message"] for line in web_lines), (
            f"no callback line for {rid}"
        )

    # --- readiness sees beat's heartbeat; /metrics adds up every process ---------------------
    def ready() -> bool:
        status, _, body = client.request("GET", "/healthz/ready")
        return status == 200 and json.loads(body) == {"status": "ok", "database": "ok", "broker": "ok", "beat": "ok"}

    assert _wait(ready, timeout=60), client.request("GET", "/healthz/ready")[2]
    assert "beat-heartbeat" in beat.output()  # published by beat, run by the worker
    status, _, body = client.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = body.decode()
    assert status == 200
    assert re.search(r"^textdesk_texts_sent_total 5\.0$", text, re.M), text
    assert re.search(r'^textdesk_webhook_seconds_count\{endpoint="twilio_status"\} 5\.0$', text, re.M), text
    assert re.search(r"^textdesk_beat_heartbeat_age_seconds ", text, re.M)

    # --- whitenoise serves the collected, hashed static files --------------------------------
    status, _, page = client.request("GET", "/accounts/login/", headers={"Host": "textdesk.test"})
    assert status == 200
    stylesheet = re.search(rb'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, page[:2000]
    assert client.request("GET", stylesheet.group(1).decode())[0] == 200
