"""Outbound webhooks against a real HTTP receiver on 127.0.0.1 (tests/integrations/conftest.py)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import delivery_attempt, endpoint_create, endpoint_rotate_secret, event_publish
from integrations.signing import signature_valid
from integrations.tasks import deliver_due_webhooks
from messaging.models import Message
from tests.factories import PhoneNumberFactory, WorkflowFactory, WorkflowStepFactory
from tests.integrations.test_readme_snippets import readme_python_verifier
from tests.messaging.twilio_payloads import post_inbound, post_status
from workflows.services import enrollment_start, task_complete, task_create_for_step

pytestmark = pytest.mark.django_db

MESSAGE_EVENTS = ["message.queued", "message.sent", "message.delivered", "consent.revoked"]


def _publish(org, object_id: int = 1, type: str = "message.queued"):
    return event_publish(
        organization_id=org.pk, type=type, object_type="message", object_id=object_id, data=lambda: {"id": object_id}
    )


def test_an_integrator_receives_a_texts_events_and_the_stop_and_verifies_them_with_the_readme_code(
    receiver, manager_api, api, client, sendable, django_capture_on_commit_callbacks
):
    registered = manager_api.post(
        "/api/v1/webhook-endpoints/", {"url": receiver.url, "events": MESSAGE_EVENTS}, format="json"
    )
    assert registered.status_code == 201
    secret = registered.json()["secret"]

    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(
            "/api/v1/messages/", {"phone_number": sendable.pk, "body": "Your unit is ready."}, format="json"
        )
    message = Message.objects.get(pk=sent.json()["id"])
    assert message.status == Message.Status.SENT
    with django_capture_on_commit_callbacks(execute=True):
        assert post_status(client, "status_delivered", MessageSid=message.provider_sid).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert post_inbound(client, "inbound_stop").status_code == 200

    # The STOP's one opt-out confirmation is a text too: its own queued and sent events follow.
    assert receiver.types()[:4] == MESSAGE_EVENTS, receiver.types()
    verify = readme_python_verifier()
    for request in receiver.requests:
        assert verify(request.body, request.headers, secret) == request.json  # the official library
        assert verify(request.body + b" ", request.headers, secret) is None
        assert request.headers["Textdesk-Event-Id"] == request.json["id"] == request.headers["webhook-id"]
    delivered, revoked = receiver.requests[2].json, receiver.requests[3].json
    assert (delivered["data"]["id"], delivered["data"]["status"]) == (message.pk, "delivered")
    assert delivered["data"] == api.get(f"/api/v1/messages/{message.pk}/").json()  # the object as the API shows it
    assert (revoked["data"]["number"], revoked["data"]["status"]) == ("+15125550142", "revoked")
    assert revoked["data"]["phone_numbers"] == [sendable.pk]
    assert revoked["data"]["event"]["source"] == "sms_keyword"
    assert len({r.json["id"] for r in receiver.requests}) == len(receiver.requests)  # one id per event
    confirmation = Message.objects.exclude(confirms_event=None).get()
    assert {r.json["data"].get("id") for r in receiver.requests[4:]} <= {confirmation.pk}
    log = manager_api.get("/api/v1/webhook-deliveries/").json()["results"]
    assert {(row["status"], row["attempts"], row["last_status_code"]) for row in log} == {("succeeded", 1, 200)}


def test_a_delivery_after_a_rotation_is_signed_with_the_new_and_for_a_day_the_old_secret(
    receiver, org, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    old = endpoint.secret
    new = endpoint_rotate_secret(endpoint=endpoint).secret

    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)

    [request] = receiver.requests
    header, now = request.headers["Textdesk-Signature"], timezone.now().timestamp()
    assert header.count("v1=") == 2
    assert signature_valid(header=header, secret=new, body=request.body, now=now)
    assert signature_valid(header=header, secret=old, body=request.body, now=now)
    assert not signature_valid(header=header, secret="whsec_someone-else", body=request.body, now=now)
    assert not signature_valid(header=header, secret=new, body=request.body, now=now + 301)  # replayed later
    tomorrow = timezone.now() + timedelta(hours=25)
    delivery = WebhookDelivery.objects.create(
        organization=org, endpoint=endpoint, event=request_event(endpoint), object_key="message:9"
    )
    delivery_attempt(delivery_id=delivery.pk, now=tomorrow)
    assert receiver.requests[-1].headers["Textdesk-Signature"].count("v1=") == 1  # the grace period is over


def request_event(endpoint: WebhookEndpoint):
    return endpoint.deliveries.first().event


def test_an_answer_of_500_is_retried_with_backoff_until_accepted_with_the_same_event_id(
    receiver, org, django_capture_on_commit_callbacks
):
    receiver.answers = [500, 503]
    endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_response == "receiver is down"
    first_wait = delivery.next_attempt_at - delivery.last_attempt_at

    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at) == "retry"
    delivery.refresh_from_db()
    second_wait = delivery.next_attempt_at - delivery.last_attempt_at
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at) == "succeeded"

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 200)
    assert timedelta(seconds=20) <= first_wait < second_wait  # exponential: 30 s, then about a minute
    assert len({r.json["id"] for r in receiver.requests}) == 1 and len(receiver.requests) == 3


def test_events_of_one_object_go_out_in_order_while_other_objects_are_not_held_up(
    receiver, org, django_capture_on_commit_callbacks
):
    receiver.answers = [500]
    endpoint_create(organization=org, url=receiver.url, events=["message.queued", "message.sent"])
    with django_capture_on_commit_callbacks(execute=True):
        first = _publish(org, object_id=1, type="message.queued")  # refused (500): stays pending
        second = _publish(org, object_id=1, type="message.sent")  # must wait for the first
        other = _publish(org, object_id=2, type="message.queued")  # another text: goes at once
    assert [r.json["id"] for r in receiver.requests] == [str(first.id), str(other.id)]

    pending = WebhookDelivery.objects.get(event=first)
    with django_capture_on_commit_callbacks(execute=True):
        assert delivery_attempt(delivery_id=pending.pk, now=pending.next_attempt_at) == "succeeded"

    accepted = [r.json["id"] for r in receiver.accepted]
    assert accepted == [str(other.id), str(first.id), str(second.id)]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_an_endpoint_failing_for_24_hours_is_switched_off_and_its_managers_are_told(
    receiver, org, manager_client, agent_client, django_capture_on_commit_callbacks
):
    receiver.always = 500
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)
    delivery = WebhookDelivery.objects.get()
    assert delivery_attempt(delivery_id=delivery.pk, now=timezone.now() + timedelta(hours=3)) == "retry"
    endpoint.refresh_from_db()
    assert endpoint.active

    assert delivery_attempt(delivery_id=delivery.pk, now=timezone.now() + timedelta(hours=24, minutes=5)) == "failed"

    endpoint.refresh_from_db()
    assert not endpoint.active and endpoint.disabled_at is not None
    assert "switched off" in manager_client.get("/").content.decode()
    assert "switched off" not in agent_client.get("/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org, object_id=5)  # nothing is sent to a switched-off endpoint
    assert len(receiver.requests) == 3


def test_switching_an_endpoint_back_on_sends_what_waited(
    receiver, org, manager_api, django_capture_on_commit_callbacks
):
    endpoint = endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    receiver.always = 500
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org, object_id=1)
        _publish(org, object_id=1)  # waits behind the first
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False, disabled_at=timezone.now())
    receiver.always = None

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_api.patch(f"/api/v1/webhook-endpoints/{endpoint.pk}/", {"active": True}, format="json")

    assert response.status_code == 200 and response.json()["disabled_at"] is None
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}
    assert len(receiver.accepted) == 2


def test_redeliver_sends_the_same_event_again_as_a_new_log_row(
    receiver, org, manager_api, django_capture_on_commit_callbacks
):
    endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)
    delivery = WebhookDelivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/redeliver/")

    assert response.status_code == 201
    assert response.json()["event"] == str(delivery.event_id) and response.json()["status"] == "pending"
    assert [r.json["id"] for r in receiver.requests] == [str(delivery.event_id)] * 2
    again = manager_api.get(f"/api/v1/webhook-deliveries/{response.json()['id']}/").json()
    assert (again["status"], again["last_status_code"]) == ("succeeded", 200)


def test_task_events_reach_the_endpoint(receiver, org, facility, manager, django_capture_on_commit_callbacks):
    endpoint_create(organization=org, url=receiver.url, events=["task.created", "task.completed"])
    workflow = WorkflowFactory(organization=org, kind="lead_follow_up")
    WorkflowStepFactory(workflow=workflow, action="call_reminder", time_of_day=time(0, 0))
    lead = PhoneNumberFactory(lead__facility=facility).lead

    with django_capture_on_commit_callbacks(execute=True):
        enrollment = enrollment_start(workflow=workflow, owner=lead, source="api")
        task = task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)
    with django_capture_on_commit_callbacks(execute=True):
        task_complete(task=task, user=manager)

    assert receiver.types() == ["task.created", "task.completed"]
    assert receiver.requests[1].json["data"]["status"] == "done"
    assert receiver.requests[1].json["data"]["completed_by"] == manager.username


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://example.com/hook", "https"),
        ("https://127.0.0.1/hook", "private"),
        ("https://localhost:8443/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/hook", "private"),
        ("https://10.0.0.7/hook", "private"),
        ("https://user:pw@example.com/hook", "passwords"),
    ],
)
def test_an_endpoint_on_this_network_or_without_https_is_refused(manager_api, settings, url, says):
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    response = manager_api.post("/api/v1/webhook-endpoints/", {"url": url, "events": ["message.sent"]}, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == "url" and says in response.json()["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_the_destination_is_checked_again_before_each_attempt(
    receiver, org, settings, django_capture_on_commit_callbacks
):
    endpoint_create(organization=org, url=receiver.url, events=["message.queued"])  # allowed in development
    settings.WEBHOOKS_ALLOW_PRIVATE = False

    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)

    delivery = WebhookDelivery.objects.get()
    assert receiver.requests == []
    assert delivery.status == "pending" and "https" in delivery.last_error


def test_agents_cannot_see_or_register_endpoints(api, receiver):
    listed = api.get("/api/v1/webhook-endpoints/")
    created = api.post("/api/v1/webhook-endpoints/", {"url": receiver.url, "events": ["message.sent"]}, format="json")

    assert (listed.status_code, created.status_code) == (403, 403)
    assert created.json()["code"] == "manager_required"


def test_the_periodic_sweep_sends_deliveries_whose_retry_is_due(receiver, org, django_capture_on_commit_callbacks):
    receiver.answers = [500]
    endpoint_create(organization=org, url=receiver.url, events=["message.queued"])
    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)
    delivery = WebhookDelivery.objects.get()
    assert deliver_due_webhooks() == 0  # its retry is not due yet

    with django_capture_on_commit_callbacks(execute=True):
        _publish(org)  # the same text's next event waits behind it: not handed out on its own
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_due_webhooks() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}  # then the next one
