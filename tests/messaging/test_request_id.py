"""The request id follows a text: request → Message row → send task log → provider SID → status callbacks."""

from __future__ import annotations

import logging

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.tracing import CELERY_HEADER, RequestIdLogFilter, request_id_bound, task_publish_add_request_id
from messaging.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def traced_logs(caplog):
    """Captured log records, each stamped with the request id it was logged under."""
    caplog.handler.addFilter(RequestIdLogFilter())
    caplog.set_level(logging.INFO)
    return caplog


def test_every_response_carries_a_request_id(client):
    first, second = client.get("/healthz/live"), client.get("/healthz/live")

    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_request_id_from_the_proxy_is_kept_and_a_forged_one_replaced(client):
    kept = client.get("/healthz/live", HTTP_X_REQUEST_ID="edge-7f3a-42")
    forged = client.get("/healthz/live", HTTP_X_REQUEST_ID='x" level=ERROR message="forged')
    too_long = client.get("/healthz/live", HTTP_X_REQUEST_ID="a" * 65)

    assert kept["X-Request-ID"] == "edge-7f3a-42"
    assert forged["X-Request-ID"] != 'x" level=ERROR message="forged' and len(forged["X-Request-ID"]) == 32
    assert len(too_long["X-Request-ID"]) == 32


def test_a_text_logs_its_request_id_from_the_api_call_to_the_sid_and_the_status_callback(
    agent, consented_number, open_all_day, twilio_server, traced_logs, client, django_capture_on_commit_callbacks
):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=agent).key}")

    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/v1/messages/",
            {"phone_number": consented_number.pk, "body": "Your gate code changed."},
            format="json",
            HTTP_X_REQUEST_ID="call-center-123",
        )
    message = Message.objects.get(pk=created.json()["id"])
    callback = twilio_server.status_callback(message.provider_sid, "delivered").post(client)

    assert created["X-Request-ID"] == "call-center-123"
    assert message.request_id == "call-center-123"
    sent = [r for r in traced_logs.records if message.provider_sid in r.getMessage() and "sent" in r.getMessage()]
    assert [r.request_id for r in sent] == ["call-center-123"]
    callbacks = [r for r in traced_logs.records if "status callback" in r.getMessage()]
    assert callback.status_code == 200
    assert callbacks and {r.request_id for r in callbacks} == {"call-center-123"}  # not the callback's own id
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED


def test_a_task_queued_during_a_request_carries_its_id_to_the_worker():
    headers: dict = {}
    with request_id_bound("call-center-9"):
        task_publish_add_request_id(headers=headers)

    assert headers[CELERY_HEADER] == "call-center-9"
