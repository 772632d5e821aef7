"""``Idempotency-Key`` on every POST and PATCH of the schema (core/idempotency.py), generated from
the OpenAPI document: an operation added tomorrow fails ``test_every_write_of_the_schema_has_a_case``
until it has a case here, and then gets every check below.

For each: the same key and body twice → the first response again, marked ``Idempotent-Replayed``,
and nothing in the database changed by the retry; the same key with another body → 422.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import time

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator

from integrations.services import api_key_create, endpoint_create, endpoint_rotate_secret, event_publish
from interactions.models import Lead
from messaging.models import MessageMedia
from messaging.services import media_create
from tests.factories import (
    CustomerFactory,
    MessageFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from tests.pictures import jpeg, png
from workflows.models import Workflow
from workflows.services import enrollment_start, task_create_for_step

from .conftest import token_client

pytestmark = pytest.mark.django_db


def _schema_writes() -> set[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        op["operationId"]
        for path, operations in schema["paths"].items()
        for method, op in operations.items()
        if method in ("post", "patch")
    }


@pytest.fixture
def world(org, facility, manager, consented_number, open_all_day):
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP, name="Web leads")
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(0, 0), action="manual_text")
    lead = PhoneNumberFactory(lead__facility=facility).lead
    enrollment = enrollment_start(workflow=workflow, owner=lead, source="agent")
    task = task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)
    endpoint = endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["message.queued"])
    event_publish(organization_id=org.pk, type="message.queued", object_type="message", object_id=1,
                  data=lambda: {"id": 1})  # fmt: skip
    api_key, _ = api_key_create(organization=org, name="Sync")
    other_lead = PhoneNumberFactory(lead__facility=facility, number="+15125550177").lead
    return {
        "org": org,
        "facility": facility,
        "number": consented_number,
        "lead": consented_number.lead,
        "second_number": PhoneNumberFactory(lead=consented_number.lead, number="+15125550166", is_primary=False),
        "customer": CustomerFactory(facility=facility),
        "template": MessageTemplateFactory(organization=org, name="Welcome"),
        "workflow": workflow,
        "other_lead": other_lead,
        "enrollment": enrollment,
        "task": task,
        "endpoint": endpoint,
        "rotated": endpoint_rotate_secret(
            endpoint=endpoint_create(organization=org, url="http://127.0.0.1:9/rotated", events=["message.sent"])
        ),
        "delivery": endpoint.deliveries.get(),
        "api_key": api_key,
        "message": MessageFactory(phone_number=consented_number, status="scheduled"),
        "failed_mms": _failed_mms(consented_number),
    }


def _failed_mms(phone):
    """A text whose picture the carrier refused (30019): it can be sent again without it."""
    message = MessageFactory(phone_number=phone, status="failed", error_code="30019", media_count=1)
    MessageMedia.objects.create(
        organization=phone.organization,
        message=message,
        media=media_create(organization=phone.organization, file=jpeg()),
        position=0,
    )
    return message


Case = Callable[[dict], tuple[str, str, dict]]
CASES: dict[str, Case] = {
    "api_keys_create": lambda w: ("post", "/api/v1/api-keys/", {"name": "Nightly export"}),
    "api_keys_revoke_create": lambda w: ("post", f"/api/v1/api-keys/{w['api_key'].pk}/revoke/", {}),
    "consent_create": lambda w: (
        "post", "/api/v1/consent/",
        {"phone_number": "+15125550188", "action": "grant", "source": "web_form", "evidence": "quote form"},
    ),
    "customers_create": lambda w: (
        "post", "/api/v1/customers/",
        {"facility": w["facility"].pk, "first_name": "Ada", "last_name": "Lovelace", "pms_id": "PMS-77"},
    ),
    "customers_partial_update": lambda w: ("patch", f"/api/v1/customers/{w['customer'].pk}/", {"unit": "B204"}),
    "enrollments_create": lambda w: (
        "post", "/api/v1/enrollments/", {"workflow": w["workflow"].pk, "lead": w["other_lead"].pk},
    ),
    "enrollments_stop_create": lambda w: (
        "post", f"/api/v1/enrollments/{w['enrollment'].pk}/stop/", {"reason": "converted"},
    ),
    "leads_create": lambda w: (
        "post", "/api/v1/leads/",
        {"facility": w["facility"].pk, "first_name": "Grace", "last_name": "Hopper",
         "phone_numbers": [{"number": "+15125550199"}]},
    ),
    "leads_partial_update": lambda w: ("patch", f"/api/v1/leads/{w['lead'].pk}/", {"first_name": "Hannah"}),
    "messages_create": lambda w: (
        "post", "/api/v1/messages/", {"phone_number": w["number"].pk, "body": "Your unit is ready."},
    ),
    "messages_cancel_create": lambda w: ("post", f"/api/v1/messages/{w['message'].pk}/cancel/", {}),
    "messages_resend_without_media_create": lambda w: (
        "post", f"/api/v1/messages/{w['failed_mms'].pk}/resend-without-media/", {},
    ),
    # Multipart (the upload): bytes become a fresh uploaded file on every send (_send).
    "media_create": lambda w: ("post", "/api/v1/media/", {"file": png()}),
    "phone_numbers_create": lambda w: (
        "post", "/api/v1/phone-numbers/", {"lead": w["lead"].pk, "number": "+15125550155", "label": "work"},
    ),
    "phone_numbers_set_primary_create": lambda w: (
        "post", f"/api/v1/phone-numbers/{w['second_number'].pk}/set-primary/", {},
    ),
    "tasks_complete_create": lambda w: ("post", f"/api/v1/tasks/{w['task'].pk}/complete/", {}),
    "tasks_skip_create": lambda w: ("post", f"/api/v1/tasks/{w['task'].pk}/skip/", {"reason": "Already rented"}),
    "templates_create": lambda w: ("post", "/api/v1/templates/", {"name": "Gate code", "body": "Hi {{ first_name }}!"}),
    "templates_partial_update": lambda w: ("patch", f"/api/v1/templates/{w['template'].pk}/", {"name": "Hello"}),
    "templates_archive_create": lambda w: ("post", f"/api/v1/templates/{w['template'].pk}/archive/", {}),
    "webhook_deliveries_redeliver_create": lambda w: (
        "post", f"/api/v1/webhook-deliveries/{w['delivery'].pk}/redeliver/", {},
    ),
    "webhook_endpoints_create": lambda w: (
        "post", "/api/v1/webhook-endpoints/", {"url": "http://127.0.0.1:9/other", "events": ["message.sent"]},
    ),
    "webhook_endpoints_partial_update": lambda w: (
        "patch", f"/api/v1/webhook-endpoints/{w['endpoint'].pk}/", {"active": False},
    ),
    "webhook_endpoints_end_rotation_create": lambda w: (
        "post", f"/api/v1/webhook-endpoints/{w['rotated'].pk}/end-rotation/", {},
    ),
    "webhook_endpoints_test_create": lambda w: ("post", f"/api/v1/webhook-endpoints/{w['endpoint'].pk}/test/", {}),
    "webhook_endpoints_rotate_secret_create": lambda w: (
        "post", f"/api/v1/webhook-endpoints/{w['endpoint'].pk}/rotate-secret/", {},
    ),
}  # fmt: skip


def _database() -> dict[str, int]:
    """Row counts and the latest change of every project model: what a retry must leave alone."""
    state = {}
    for model in apps.get_models():
        if model._meta.app_label in ("interactions", "messaging", "workflows", "integrations"):
            state[model._meta.label] = model._default_manager.count()
    return state


def _send(api, method: str, path: str, body: dict, *, key: str):
    """JSON, or multipart when the body carries a file's bytes (each send uploads it afresh)."""
    files = {name: value for name, value in body.items() if isinstance(value, bytes)}
    if not files:
        return getattr(api, method)(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    data = {**body, **{name: SimpleUploadedFile(f"{name}.png", value) for name, value in files.items()}}
    return getattr(api, method)(path, data, format="multipart", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_upload_with_other_bytes_under_the_same_name_is_another_request(world, manager):
    api = token_client(manager)
    first = _send(api, "post", "/api/v1/media/", {"file": png(color="red")}, key="same-name")
    other = _send(api, "post", "/api/v1/media/", {"file": png(color="blue")}, key="same-name")
    assert first.status_code == 201
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


def test_every_write_of_the_schema_has_a_case():
    assert _schema_writes() == set(CASES)


@pytest.mark.parametrize("operation", sorted(CASES))
def test_a_retry_with_the_same_key_replays_and_changes_nothing(world, manager, operation):
    api = token_client(manager)
    method, path, body = CASES[operation](world)

    first = _send(api, method, path, body, key=f"key-{operation}")
    assert 200 <= first.status_code < 300, (operation, first.status_code, first.content[:300])
    after_first = _database()
    retry = _send(api, method, path, body, key=f"key-{operation}")
    other = _send(api, method, path, {**body, "note": "a different request"}, key=f"key-{operation}")

    assert (retry.status_code, retry.json()) == (first.status_code, first.json())
    assert retry["Idempotent-Replayed"] == "true"
    assert _database() == after_first, "the retry changed the database"
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


def test_invalid_input_lets_the_key_go_for_a_corrected_retry(world, manager):
    api = token_client(manager)
    bad = api.post("/api/v1/templates/", {"name": ""}, format="json", HTTP_IDEMPOTENCY_KEY="fix-me")
    good = api.post("/api/v1/templates/", {"name": "Gate", "body": "Hi"}, format="json", HTTP_IDEMPOTENCY_KEY="fix-me")

    assert (bad.status_code, good.status_code) == (400, 201)


def test_keys_belong_to_the_organization(world, manager, other_api):
    api = token_client(manager)
    body = {"name": "Gate", "body": "Hi"}
    mine = api.post("/api/v1/templates/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    theirs = other_api.post("/api/v1/templates/", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.postgres(reason="parallel requests on a live server share the database only on PostgreSQL")
def test_parallel_duplicates_create_one_lead(live_server, transactional_db, facility, manager):
    import requests

    cache.clear()
    token = token_client(manager)._credentials["HTTP_AUTHORIZATION"]
    body = {
        "facility": facility.pk,
        "first_name": "Grace",
        "last_name": "Hopper",
        "phone_numbers": [{"number": "+15125550199"}],
    }
    answers: list[tuple[int, dict]] = []
    barrier = threading.Barrier(12)

    def post() -> None:
        barrier.wait()
        r = requests.post(f"{live_server.url}/api/v1/leads/", json=body, timeout=30,
                          headers={"Authorization": token, "Idempotency-Key": "parallel-lead"})  # fmt: skip
        answers.append((r.status_code, r.json()))

    threads = [threading.Thread(target=post) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert Lead.objects.filter(first_name="Grace").count() == 1
    statuses = sorted({status for status, _ in answers})
    assert set(statuses) <= {201, 409}, answers
    created = {body["id"] for status, body in answers if status == 201}
    assert len(created) == 1  # every 201 is the same lead: the first, or its replay
