"""Liveness and readiness: what each says, in status words only, and the beat heartbeat."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper
from django.utils import timezone

import config.views
from ops.models import Heartbeat
from ops.services import heartbeat_record
from ops.tasks import beat_heartbeat

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_asking_any_dependency(client, django_assert_num_queries, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"

    with django_assert_num_queries(0):
        response = client.get("/healthz/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readiness_is_ok_with_the_database_the_broker_and_a_fresh_heartbeat(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    beat_heartbeat.apply()

    response = client.get("/healthz/ready")

    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "beat": "ok"}
    assert client.get("/healthz").json() == response.json()  # the old path is the same probe


def test_a_broker_outage_keeps_web_ready_and_says_only_unavailable(client, settings, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    heartbeat_record()

    with caplog.at_level(logging.ERROR, logger="config.views"):
        response = client.get("/healthz/ready")

    # Web still serves the cards and Twilio's STOP webhooks; texts wait as rows for the broker.
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "broker": "unavailable", "beat": "ok"}
    assert "127.0.0.1:1" not in response.content.decode()
    assert "broker is unreachable" in caplog.text and "127.0.0.1:1" in caplog.text  # the detail goes to the log


@pytest.mark.postgres(reason="an unreachable PostgreSQL server stands in for the database going away")
@pytest.mark.allow_server_errors  # the 503 is the point: Django logs every 5xx
def test_without_the_database_web_is_not_ready_and_the_error_stays_in_the_log(client, monkeypatch, caplog):
    unreachable = DatabaseWrapper({**connection.settings_dict, "PORT": "1", "OPTIONS": {}}, alias="unreachable")
    monkeypatch.setattr(config.views, "connection", unreachable)

    with caplog.at_level(logging.ERROR, logger="config.views"):
        response = client.get("/healthz/ready")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unavailable",
        "broker": "ok",
        "beat": "unavailable",
    }
    body = response.content.decode()
    assert "port" not in body and connection.settings_dict["USER"] not in body
    assert "database is unreachable" in caplog.text and "port 1" in caplog.text


def test_a_late_or_missing_beat_heartbeat_is_reported_without_failing_readiness(client, settings):
    settings.BEAT_HEARTBEAT_MAX_AGE = 120

    missing = client.get("/healthz/ready")
    heartbeat_record(now=timezone.now() - timedelta(minutes=5))
    late = client.get("/healthz/ready")

    assert (missing.status_code, missing.json()["beat"], missing.json()["status"]) == (200, "missing", "degraded")
    assert (late.status_code, late.json()["beat"], late.json()["status"]) == (200, "late", "degraded")


def test_make_runs_periodic_tasks_write_the_beat_heartbeat(client):
    call_command("run_periodic_tasks", "--once")

    assert Heartbeat.objects.get(name="beat").at > timezone.now() - timedelta(seconds=30)
    assert client.get("/healthz/ready").json()["beat"] == "ok"


def test_the_heartbeat_command_fails_when_beat_stopped(capsys):
    with pytest.raises(CommandError, match="missing"):
        call_command("heartbeat")
    heartbeat_record(now=timezone.now() - timedelta(minutes=10))
    with pytest.raises(CommandError, match="late"):
        call_command("heartbeat", "--max-age", "120")
    heartbeat_record()
    call_command("heartbeat")

    assert "beat heartbeat: ok" in capsys.readouterr().out


def test_probes_answer_the_container_under_production_host_and_https_rules(client, settings):
    settings.ALLOWED_HOSTS = ["textdesk.example.com"]
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz/ready", HTTP_HOST="127.0.0.1:8000").status_code == 200
    assert client.get("/healthz/live", HTTP_HOST="web:8000").status_code == 200
    assert client.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.get("/", HTTP_HOST="textdesk.example.com").status_code == 301
    assert client.head("/healthz").status_code == 200
