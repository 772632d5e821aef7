from __future__ import annotations

import datetime
import time

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from integrations.services import api_key_create, endpoint_create, event_publish
from interactions.services import consent_grant
from messaging.serializers import MessageSerializer
from tests.api.conftest import token_client
from tests.factories import (
    CustomerFactory,
    MessageFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.services import enrollment_start, task_create_for_step

pytestmark = pytest.mark.django_db

# Every check Schemathesis has runs (``call_and_validate`` without ``checks=``): no server error,
# documented status codes, content types and headers, responses that match their schema, invalid
# data rejected and valid data accepted, unsupported methods answering 405, auth not ignored, a
# deleted resource gone. Valid data may still be refused for what a schema can't say (no consent,
# quiet hours, a number that is no phone number): 400 with the error shape, or 422 for a reused
# Idempotency-Key, or 412 for an If-Match that names no current version (any string is schema-valid
# there), each documented on its operation.
ACCEPTED = ["2xx", "400", "401", "403", "404", "409", "412", "422", "429"]
# Invalid data is refused with 400 (or 414, 415, 422…), or 412 when the If-Match is stale: the precondition
# is judged before the body, as RFC 9110 section 13.2.2 orders it.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "412", "414", "415", "422", "428", "429"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ACCEPTED},
            "negative_data_rejection": {"expected-statuses": REJECTED},
        }
    }
)
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 8}


def test_schema_is_openapi_3_and_lists_every_resource(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/v1/leads/",
        "/api/v1/customers/",
        "/api/v1/phone-numbers/",
        "/api/v1/phone-numbers/{id}/set-primary/",
        "/api/v1/consent/",
        "/api/v1/templates/",
        "/api/v1/messages/",
        "/api/v1/messages/{id}/",
        "/api/v1/tasks/",
        "/api/v1/tasks/{id}/complete/",
        "/api/v1/tasks/{id}/skip/",
        "/api/v1/enrollments/",
        "/api/v1/enrollments/{id}/stop/",
    } <= set(schema["paths"])
    send = schema["paths"]["/api/v1/messages/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in send["parameters"] if p["in"] == "header"]
    assert {"201", "400", "401", "403", "409", "422", "429"} <= set(send["responses"])
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_docs_page_uses_locally_served_assets(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def test_browsable_api_renders_for_a_signed_in_agent(agent_client, facility):
    response = agent_client.get("/api/v1/leads/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Lead List" in response.content


def test_rate_limit_is_per_token_with_retry_after(api, manager_api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/min"}}

    statuses = [api.get("/api/v1/templates/").status_code for _ in range(4)]
    limited = api.get("/api/v1/templates/")

    assert statuses == [200, 200, 200, 429]
    assert limited.json()["code"] == "throttled"
    # A full window: the rest of it, then until it weighs little enough in the next (< 2 windows).
    assert 0 < int(limited["Retry-After"]) < 120
    assert manager_api.get("/api/v1/templates/").status_code == 200  # another token has its own budget


class InTransactionWSGIApp:
    """The project's WSGI app for in-process calls inside the test's transaction.

    Like Django's test client, it keeps the request signals from closing the test's database
    connection (and with it the transaction holding the seeded data).
    """

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(facility, manager, open_all_day):
    """A seeded organization the fuzzer works in, with ids to aim at besides random ones."""
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
    consent_grant(organization=facility.organization, number=phone.number, source="web_form", evidence="form")
    customer = CustomerFactory(facility=facility)
    PhoneNumberFactory(lead=None, customer=customer, number="+15125550143")
    template = MessageTemplateFactory(organization=facility.organization)
    message = MessageFactory(phone_number=phone)
    workflow = WorkflowFactory(organization=facility.organization, kind="lead_follow_up")
    WorkflowStepFactory(workflow=workflow, action="call_reminder", time_of_day=datetime.time(0, 0))
    enrollment = enrollment_start(workflow=workflow, owner=phone.lead, source="api")
    task = task_create_for_step(enrollment=enrollment, step=enrollment.next_step, due_at=enrollment.next_due_at)
    organization = facility.organization
    endpoint = endpoint_create(organization=organization, url="http://127.0.0.1:9/hook", events=["message.queued"])
    # A real payload (the schema's WebhookEventMessageQueued), which every delivery answer carries.
    event_publish(organization_id=organization.pk, type="message.queued", object_type="message",
                  object_id=message.pk, data=lambda: MessageSerializer(message).data)  # fmt: skip
    api_key, _ = api_key_create(organization=organization, name="PMS sync", created_by=manager)
    return {
        "paths": {
            "/api/v1/leads/": phone.lead_id,
            "/api/v1/customers/": customer.pk,
            "/api/v1/phone-numbers/": phone.pk,
            "/api/v1/templates/": template.pk,
            "/api/v1/messages/": message.pk,
            "/api/v1/tasks/": task.pk,
            "/api/v1/enrollments/": enrollment.pk,
            "/api/v1/workflows/": workflow.pk,
            "/api/v1/webhook-endpoints/": endpoint.pk,
            "/api/v1/webhook-deliveries/": endpoint.deliveries.get().pk,
            "/api/v1/api-keys/": api_key.pk,
        },
        # body and query fields that name a row: aiming them at real rows reaches the services
        "fields": {
            "facility": facility.pk,
            "lead": phone.lead_id,
            "customer": customer.pk,
            "phone_number": phone.pk,
            "template": template.pk,
            "workflow": workflow.pk,
            "endpoint": endpoint.pk,
            "number": "+15125550142",
        },
    }


def aimed(strategy, fields: dict):
    """Half of the cases get their reference fields pointed at seeded rows."""

    def aim(pair):
        case, should_aim = pair
        if should_aim:
            for part in ("body", "query"):
                values = getattr(case, part, None)
                if isinstance(values, dict):
                    for name in values.keys() & fields.keys():
                        values[name] = fields[name]
        return case

    return st.tuples(strategy, st.booleans()).map(aim)


def test_schemathesis_with_every_check_finds_no_server_error_and_no_contract_violation(seeded, manager, settings):
    """Fuzz every operation (bounded examples) with a manager's token: no 5xx, every response as documented."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "100000/min"}}
    token = token_client(manager)._credentials["HTTP_AUTHORIZATION"]
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", InTransactionWSGIApp(), config=CONFIG)
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")  # deletes last: keep seeded rows

    for operation in operations:
        for mode, examples in EXAMPLES.items():
            strategy = operation.as_strategy(generation_mode=mode)
            if "{id}" in operation.path:
                known = seeded["paths"][operation.path.split("{id}")[0]]
                on_seeded_row = operation.as_strategy(generation_mode=mode, path_parameters={"id": known})
                strategy = st.one_of(strategy, on_seeded_row)
            if mode is GenerationMode.POSITIVE:
                strategy = aimed(strategy, seeded["fields"])

            @given(case=strategy)
            @hypothesis_settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                case.call_and_validate(headers={"Authorization": token})

            run()

    assert time.monotonic() - started < 300  # about 60 s on an idle machine: a guard against a run that explodes


def test_schemathesis_stateful_run_follows_the_schemas_links_with_every_check(seeded, manager, settings):
    """Sequences of calls along the links Schemathesis infers (a created row's id fed to its read, change,
    archive…): every response still holds every check, a deleted row is gone, a created one is there."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "100000/min"}}
    token = token_client(manager)._credentials["HTTP_AUTHORIZATION"]
    # The manager's token as the run's own credential, so the auth check knows it from generated ones.
    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": token},
            "checks": {
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", InTransactionWSGIApp(), config=config)
    machine = schema.as_state_machine()
    assert len(schema.operations_with_incoming_links()) >= 5, "the schema offers too few links to follow"

    class Stateful(machine):  # type: ignore[misc,valid-type]
        def before_call(self, case):
            # Generated credentials (a random token, a session cookie) would sit beside the manager's.
            case.cookies = {}
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}

    started = time.monotonic()
    Stateful.run(
        settings=hypothesis_settings(
            max_examples=25,
            stateful_step_count=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert time.monotonic() - started < 300
