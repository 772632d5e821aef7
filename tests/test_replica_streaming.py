"""Reads that may lag come from a real streaming replica; whoever just wrote reads the primary.

A hot standby of the suite's PostgreSQL (``pg_basebackup -R``, tests/replica.py) on a second port,
and gunicorn on the production settings with ``DATABASE_REPLICA_URL`` pointing at it. Replay is
paused on the replica (``pg_wal_replay_pause()``), so whatever is written after that exists only
on the primary, and each answer says where it was read:

- a lead written meanwhile is missing from the API list and from the inbox (the replica), while
  its own API detail answers (the primary);
- an integrator who creates a lead finds it in the list at once (read-your-writes by API key),
  another key does not; an agent who assigns a conversation to themself finds it under "Mine" at
  once (read-your-writes by the browser's signed mark), and no longer once the window passed;
- replay resumed, every list shows everything.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from rest_framework.authtoken.models import Token

from interactions.models import Membership
from messaging.models import Message
from messaging.services import conversation_touch
from tests.factories import FacilityFactory, LeadFactory, MembershipFactory, OrganizationFactory, PhoneNumberFactory
from tests.replica import StreamingReplica, binaries, primary_allow_replication

pytestmark = [
    pytest.mark.production,
    pytest.mark.postgres(reason="a PostgreSQL streaming replica of the suite's server"),
]

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 4.0  # READ_YOUR_WRITES_SECONDS for the server under test
PASSWORD = "replica-" + secrets.token_hex(8)


def _url(database: str | None = None) -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    name = database or s["NAME"]
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def streaming_replica(transactional_db):
    bindir = binaries(_url("postgres"))
    if bindir is None:
        pytest.skip("PostgreSQL's server binaries (pg_basebackup, postgres) are not installed here")
    primary_allow_replication(_url("postgres"))
    replica = StreamingReplica(primary_url=_url("postgres"), bindir=bindir)
    try:
        yield replica.start()
    finally:
        replica.stop()


@pytest.fixture
def web(streaming_replica, settings, tmp_path):
    """gunicorn on the production settings, reading what may lag from the replica."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": _url(),
        "DATABASE_REPLICA_URL": streaming_replica.url(connection.settings_dict["NAME"]),
        "READ_YOUR_WRITES_SECONDS": str(WINDOW),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PUBLIC_BASE_URL": base,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SILENCED_SYSTEM_CHECKS": "textdesk.E002,textdesk.E005",  # plain http on loopback, test hours
        "TEXTING_LAW_WINDOWS_OFF_FOR_TESTS": "1",
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "DB_POOL_MAX_SIZE": "4",
        "LOG_FORMAT": "plain",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CACHE_BACKEND", None)
    log = tmp_path / "web.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "1", "--threads", "4"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz/live", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise AssertionError("gunicorn did not answer:\n" + log.read_text(errors="replace")[-3000:])
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    errors = [line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line]
    assert not errors, errors


def _organization():
    org = OrganizationFactory(name="Replica Storage", slug="replica-storage")
    facility = FacilityFactory(organization=org, name="Replica Austin")
    agent = MembershipFactory(organization=org, role=Membership.Role.AGENT, user__username="replica-agent").user
    hasher = PBKDF2PasswordHasher()  # the server's hasher: the test settings' MD5 is not among production's
    agent.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
    agent.save(update_fields=["password"])
    manager = MembershipFactory(organization=org, role=Membership.Role.MANAGER, user__username="replica-manager").user
    return org, facility, agent, Token.objects.create(user=manager).key, Token.objects.create(user=agent).key


def _texted_lead(facility, first_name: str, number: str):
    lead = LeadFactory(facility=facility, first_name=first_name, last_name="Storage")
    phone = PhoneNumberFactory(lead=lead, number=number)
    reply = Message.objects.create(
        organization=facility.organization, lead=lead, phone_number=phone, direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED, from_number=number, to_number="+15125550100", body=f"Hi, {first_name} here",
    )  # fmt: skip
    conversation_touch(reply)  # the inbox's summary, as the inbound service keeps it
    return lead


def _sign_in(base: str, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(base + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    signed = browser.post(
        base + "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert signed.status_code == 302, signed.text[:500]
    return browser


def _lead_names(base: str, key: str) -> set[str]:
    answer = requests.get(base + "/api/v1/leads/?page_size=100", headers={"Authorization": f"Token {key}"}, timeout=10)
    assert answer.status_code == 200, answer.text[:500]
    return {row["first_name"] for row in answer.json()["results"]}


def _csrf(browser: requests.Session, base: str, path: str) -> str:
    page = browser.get(base + path, timeout=10)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def test_lagging_reads_come_from_the_replica_and_whoever_wrote_reads_the_primary(streaming_replica, web):
    started = time.monotonic()
    _org, facility, agent, manager_key, agent_key = _organization()
    early = _texted_lead(facility, "Earlybird", "+15125550201")
    browser = _sign_in(web, agent.username)  # signing in writes: the agent reads the primary for WINDOW
    signed_in_at = time.monotonic()
    streaming_replica.caught_up()
    streaming_replica.pause()
    time.sleep(max(0.0, signed_in_at + WINDOW + 0.5 - time.monotonic()))

    # (a) written on the primary while the replica is paused: lists don't have it yet, details do
    late = _texted_lead(facility, "Latecomer", "+15125550202")
    assert _lead_names(web, manager_key) == {"Earlybird"}
    inbox = browser.get(web + "/inbox/", timeout=10)
    assert "Earlybird" in inbox.text and "Latecomer" not in inbox.text
    assert "textdesk_wrote" not in inbox.cookies  # reading marks nobody
    detail = requests.get(f"{web}/api/v1/leads/{late.pk}/", headers={"Authorization": f"Token {manager_key}"})
    assert detail.status_code == 200 and detail.json()["first_name"] == "Latecomer"

    # read-your-writes, by API key: the manager's key created a lead and lists it; the agent's key does not
    created = requests.post(
        web + "/api/v1/leads/",
        json={"first_name": "Freshly", "last_name": "Made", "facility": facility.pk},
        headers={"Authorization": f"Token {manager_key}"},
        timeout=10,
    )
    assert created.status_code == 201, created.text[:500]
    assert _lead_names(web, manager_key) == {"Earlybird", "Latecomer", "Freshly"}
    assert _lead_names(web, agent_key) == {"Earlybird"}

    # read-your-writes, by browser: the agent takes Earlybird's conversation and finds it under "Mine"
    assigned = browser.post(
        f"{web}/inbox/lead/{early.pk}/assign/",
        data={"assigned_to": agent.pk, "csrfmiddlewaretoken": _csrf(browser, web, "/inbox/")},
        allow_redirects=False,
        timeout=10,
    )
    assert assigned.status_code == 302 and "textdesk_wrote" in assigned.cookies
    assert "Earlybird" in browser.get(web + "/inbox/?show=mine", timeout=10).text
    time.sleep(WINDOW + 0.5)  # the mark expires: the agent reads the (still paused) replica again
    assert "Earlybird" not in browser.get(web + "/inbox/?show=mine", timeout=10).text

    # (b) replay resumed: everything shows up for everyone
    streaming_replica.resume()
    streaming_replica.caught_up()
    assert _lead_names(web, agent_key) == {"Earlybird", "Latecomer", "Freshly"}
    inbox = browser.get(web + "/inbox/", timeout=10).text
    assert "Latecomer" in inbox
    assert "Earlybird" in browser.get(web + "/inbox/?show=mine", timeout=10).text
    print(f"replica test body: {time.monotonic() - started:.1f} s")
