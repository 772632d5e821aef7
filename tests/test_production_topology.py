"""The production topology, as real processes on this machine (what compose runs, without Docker).

gunicorn with three processes on the production settings (``DEBUG=0``, the PostgreSQL pool,
the Redis cache, whitenoise serving collected static files, JSON logs, Prometheus multiprocess
mode), a Celery worker and Celery beat, against the suite's PostgreSQL test database and Redis,
sending through the Twilio-compatible server with the real SDK, behind Debian's nginx running
the shipped ``proxy/nginx.conf`` itself (only the upstream, listen addresses, certificate and
scratch paths are swapped in) with TLS on a self-signed certificate (``TRUSTED_PROXY=1``).

It checks what a deployment must hold: plain HTTP is redirected to HTTPS even when the client
claims ``X-Forwarded-Proto: https``, HSTS only over TLS, ``Host`` keeps its port (the API's
absolute ``next`` links), Twilio's signature verifies through the proxy; the API limit holds across processes (5 of 30
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
import shutil
import signal
import ssl
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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the test reads each redirect itself


class Web:
    """An HTTP client of one address: gunicorn directly (as a scraper reaches it) or the proxy."""

    def __init__(self, base: str, *, host: str | None = None, context: ssl.SSLContext | None = None) -> None:
        self.base = base
        self.host = host
        self.context = context
        self.opener = urllib.request.build_opener(
            _NoRedirects(), urllib.request.HTTPSHandler(context=context) if context else urllib.request.HTTPSHandler()
        )

    def request(self, method: str, path: str, *, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json", **({"Host": self.host} if self.host else {}), **(headers or {})}
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


class Nginx(Server):
    """Debian's nginx running the shipped proxy/nginx.conf in front of ``upstream_port``.

    Only what a machine without Docker must differ in is swapped, each swap checked to have
    happened: the upstream (an address, not compose's ``web``), the listen addresses, the
    certificate (self-signed for textdesk.test) and scratch paths. Everything else — headers,
    timeouts, the /metrics refusal, the static cache — is the file as shipped.
    """

    BINARY = shutil.which("nginx") or "/usr/sbin/nginx"

    def __init__(self, tmp_path: Path, *, upstream_port: int) -> None:
        self.http_port, self.https_port = _free_port(), _free_port()
        root = tmp_path / "nginx"
        certs = root / "certs"
        certs.mkdir(parents=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=textdesk.test",
             "-addext", "subjectAltName=DNS:textdesk.test",
             "-keyout", str(certs / "privkey.pem"), "-out", str(certs / "fullchain.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        self.certificate = certs / "fullchain.pem"
        scratch = "".join(
            f"{kind}_temp_path {root}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        swaps = {
            "resolver 127.0.0.11 valid=10s ipv6=off;": "",  # Docker's DNS; the upstream here is an address
            "set $web http://web:8000;": f"set $web http://127.0.0.1:{upstream_port};",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen 443 ssl;": f"listen 127.0.0.1:{self.https_port} ssl;",
            "/etc/nginx/certs/": f"{certs}/",
            "/var/cache/nginx/static": f"{root}/static-cache",
            "http {": "http { " + scratch,
        }
        config = (ROOT / "proxy" / "nginx.conf").read_text()
        for shipped, here in swaps.items():
            assert shipped in config, f"proxy/nginx.conf no longer has {shipped!r}: update this test's swaps"
            config = config.replace(shipped, here)
        (root / "nginx.conf").write_text(config)
        args = [self.BINARY, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "stderr",
                "-g", f"daemon off; pid {root}/nginx.pid; user root;"]  # fmt: skip
        super().__init__(args, env=dict(os.environ), log=tmp_path / "nginx.log")

    def client(self, *, tls: bool = True) -> Web:
        if not tls:
            return Web(f"http://127.0.0.1:{self.http_port}", host=f"textdesk.test:{self.http_port}")
        context = ssl.create_default_context(cafile=str(self.certificate))
        context.check_hostname = False  # connected by address; the certificate is checked against our CA
        return Web(f"https://127.0.0.1:{self.https_port}", host=f"textdesk.test:{self.https_port}", context=context)


@pytest.fixture
def topology(transactional_db, twilio_server, settings, tmp_path):
    if not Path(Nginx.BINARY).exists():
        pytest.skip(f"{Nginx.BINARY} is not installed (apt-get install nginx-light; .ci/run does)")
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
        "OUTBOX_TALLY_SECONDS": "1",  # /metrics' cluster totals, counted by beat
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
        direct = Web(f"http://127.0.0.1:{port}")
        assert _wait(lambda: _answers(direct), timeout=90), web.output()[-3000:]
        proxy = Nginx(tmp_path, upstream_port=port)
        started.append(proxy)
        client = proxy.client()
        assert _wait(lambda: _answers(client), timeout=30), proxy.output()[-3000:]
        yield client, web, worker, beat, proxy, direct
    finally:
        for process in reversed(started):
            process.stop()
        app.conf.task_always_eager = was_eager
        broker.delete("celery", "unacked", "unacked_index", "unacked_mutex")
        broker.close()


def _scrape(client: Web) -> str:
    return client.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})[2].decode()


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
    client, web, worker, beat, proxy, direct = topology
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
        answer = twilio_server.post_status_callback(
            message.provider_sid, "delivered", base_url=client.base, context=client.context
        )
        assert answer[0] == 200, answer  # signed for PUBLIC_BASE_URL, verified through the proxy
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

    # --- every line's time names its zone; the access log's request id is a field -------------
    for line in [*web_lines, *worker_lines]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"]), line
    accepted = {line["request_id"]: line for line in web_lines if line.get("logger") == "gunicorn.access"}
    for rid, _ in passed:
        assert accepted[rid]["method"] == "POST" and accepted[rid]["path"] == "/api/v1/messages/", accepted[rid]
        assert accepted[rid]["status"] == 201 and isinstance(accepted[rid]["duration_ms"], int)
        assert "request_id=" not in accepted[rid]["message"]

    # --- readiness sees beat's heartbeat; /metrics adds up every process ---------------------
    def ready() -> bool:
        status, _, body = client.request("GET", "/healthz/ready")
        return status == 200 and json.loads(body) == {"status": "ok", "database": "ok", "broker": "ok", "beat": "ok"}

    assert _wait(ready, timeout=60), client.request("GET", "/healthz/ready")[2]
    assert "beat-heartbeat" in beat.output()  # published by beat, run by the worker
    # Scraped from each web container directly: the proxy refuses /metrics from outside.
    assert client.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})[0] == 404
    status, _, body = direct.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = body.decode()
    assert status == 200
    # Database-derived totals come once for the cluster (beat's tally), labelled scope="cluster".
    assert _wait(lambda: re.search(r'^textdesk_texts_sent_total\{scope="cluster"\} 5\.0$', _scrape(direct), re.M),
                 timeout=30), _scrape(direct)  # fmt: skip
    assert re.search(r'^textdesk_webhook_seconds_count\{endpoint="twilio_status"\} 5\.0$', text, re.M), text
    assert re.search(r"^textdesk_beat_heartbeat_age_seconds ", text, re.M)

    # --- whitenoise serves the collected, hashed static files --------------------------------
    status, headers, page = client.request("GET", "/accounts/login/")
    assert status == 200
    assert headers.get("Strict-Transport-Security", "").startswith("max-age="), headers  # HSTS over TLS
    stylesheet = re.search(rb'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, page[:2000]
    assert client.request("GET", stylesheet.group(1).decode())[0] == 200

    # --- the proxy, not the client, says the scheme; Host keeps its port ----------------------
    plain = proxy.client(tls=False)
    status, headers, _ = plain.request("GET", "/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert status == 301, (status, headers)  # a client's claim of https does not skip the redirect…
    assert headers["Location"] == f"https://textdesk.test:{proxy.http_port}/accounts/login/"  # …nor drop the port
    assert "Strict-Transport-Security" not in headers  # …nor earn HSTS over plain HTTP

    reader = MembershipFactory(organization=phones[0].organization, role=Membership.Role.AGENT).user
    status, _, body = client.request(
        "GET", "/api/v1/leads/?page_size=2", headers={"Authorization": f"Token {Token.objects.create(user=reader).key}"}
    )
    assert status == 200, body
    assert json.loads(body)["next"].startswith(f"https://textdesk.test:{proxy.https_port}/api/v1/leads/?")
