"""Bad input never answers 500: NUL, overlong, wrong-type and unicode-edge values everywhere.

The routes are found, not listed: the URLconf for pages and forms, the admin registry for every
changelist (search, filters, ordering, actions), autocomplete, add and change form, the OpenAPI
schema for every API operation (path, query and body fields), and every field of the stored Twilio
payloads (signed). A new route is fuzzed without touching this file. The test prints how many
requests it sent; run with ``-s`` to see it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from interactions.models import History, Membership
from interactions.services import consent_grant, history_record
from messaging.models import Message, UnsubscribeLink
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    MessageFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from tests.messaging.twilio_payloads import INBOUND_URL, STATUS_URL, payload, sign

pytestmark = pytest.mark.django_db

# What a form or query string can carry: text only.
FORM_VALUES = {
    "nul": "a\x00b",
    "overlong": "x" * 20_000,
    "huge_number": "9" * 40,
    "negative": "-1",
    "unicode_edge": "\u202e👋🏽\ufeffＡe\u0301\u200d",
    "impossible_date": "2026-13-45T99:99",
}
# What a JSON body can carry besides: other types, a lone surrogate, extreme numbers.
JSON_VALUES: dict[str, Any] = {
    **FORM_VALUES,
    "lone_surrogate": "\ud800",
    "list": [1, "a", None],
    "object": {"a": {"b": None}},
    "null": None,
    "true": True,
    "big_int": 10**30,
    "float": 1e308,
    "negative_int": -1,
}
QUERY_NAMES = {"q", "kind", "page", "phone", "compose", "template", "task", "v", "facility", "next", "o", "p"}
# Besides the names the pages' own forms carry (collected as the pages are fetched).
POST_NAMES = {"body", "send_at", "template", "task", "number", "label", "evidence", "note", "reason", "workflow"}
SKIPPED_PREFIXES = ("admin/", "api/", "healthz", "static/", "media/")  # admin and API: walked below


class Recorder:
    """Sends requests and keeps every answer of 500 or more.

    Each request runs in a savepoint that is rolled back: every request meets the same rows (a
    task completed by one request is still open for the next), and a database error in one
    request can't spill into the next one.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.failures: list[str] = []

    def __call__(self, client: Client, method: str, path: str, what: str, **kwargs) -> Any:
        cache.clear()  # the API's rate limit counts in the cache: the fuzz must not be throttled
        with transaction.atomic():
            response = getattr(client, method)(path, **kwargs)
            transaction.set_rollback(True)
        self.sent += 1
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code} {method.upper()} {path} [{what}]")
        return response


def _client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _model(name: str):
    """A model by class name, whatever app it lives in."""
    return next(m for m in apps.get_models() if m.__name__ == name)


@pytest.fixture
def world(settings):
    from tests.factories import FacilityFactory, OrganizationFactory

    org = OrganizationFactory(name="Fuzz Storage", slug="fuzz", quiet_hours_start="00:00", quiet_hours_end="23:59")
    facility = FacilityFactory(organization=org, name="Fuzz Austin")
    manager = MembershipFactory(organization=org, role=Membership.Role.MANAGER, user__username="fuzz-manager").user
    root = get_user_model().objects.create_superuser("fuzz-root", "root@example.com", "pw-12345!x")
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
    consent_grant(organization=org, number=phone.number, source="web_form", evidence="quote form")
    customer = CustomerFactory(facility=facility, balance_due="50.00")
    customer_phone = PhoneNumberFactory(lead=None, customer=customer, number="+15125550143")
    history = history_record(owner=phone.lead, kind=History.Kind.CALL, summary="Called.", agent=manager)
    template = MessageTemplateFactory(organization=org)
    outbound = MessageFactory(phone_number=phone, status=Message.Status.SENT, provider_sid="SM" + "a" * 32)
    inbound = MessageFactory(
        phone_number=phone,
        direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED,
        to_number=facility.sms_sender_number,
        from_number=phone.number,
        body="please stop texting me",
        flagged_opt_out_request=True,
    )
    link = UnsubscribeLink.objects.create(organization=org, number=phone.number)
    workflow = WorkflowFactory(organization=org, kind="lead_follow_up", name="Follow up")
    step = WorkflowStepFactory(workflow=workflow, action="manual_text", template=template)
    now = timezone.now()
    enrollment = _model("Enrollment").objects.create(
        organization=org, workflow=workflow, lead=phone.lead, source="agent", started_at=now, next_step=step
    )
    task = _model("Task").objects.create(
        organization=org,
        kind="manual_text",
        due_at=now - timedelta(hours=1),
        enrollment=enrollment,
        step=step,
        lead=phone.lead,
    )
    return {
        "org": org,
        "facility": facility,
        "manager": manager,
        "root": root,
        "phone": phone,
        "lead": phone.lead,
        "customer": customer,
        "customer_phone": customer_phone,
        "history": history,
        "template": template,
        "outbound": outbound,
        "inbound": inbound,
        "link": link,
        "workflow": workflow,
        "enrollment": enrollment,
        "task": task,
    }


# --- pages and forms (the URLconf) -----------------------------------------------------------------


def _routes(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _concrete(route: str, name: str | None, world: dict) -> str:
    """A route with its parameters filled with ids of the fuzz organization's rows."""
    pk_for = {
        "customer_card": world["customer"].pk,
        "customer_enroll": world["customer"].pk,
        "history_card": world["history"].pk,
        "task_done": world["task"].pk,
        "task_skip": world["task"].pk,
        "enrollment_stop": world["enrollment"].pk,
    }
    values = {
        "phone_id": str(world["phone"].pk),
        "message_id": str(world["inbound"].pk),
        "token": world["link"].token,
        "kind": "leads",
        "pk": str(pk_for.get(name, world["lead"].pk)),
    }
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "1"), route)
    return "/" + route.lstrip("^").rstrip("$").replace("/?", "/")


def _form_names(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"', html)) - {"csrfmiddlewaretoken"}


def _fuzz_pages(send: Recorder, client: Client, world: dict) -> None:
    routes = [
        (_concrete(route, pattern.name, world), pattern.name)
        for route, pattern in _routes(get_resolver().url_patterns)
        if not route.lstrip("^").startswith(SKIPPED_PREFIXES)
    ]
    post_names = set(POST_NAMES)
    for path, _name in routes:
        response = send(client, "get", path, "plain")
        if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            post_names |= _form_names(response.content.decode())
        for param in QUERY_NAMES:
            for label, value in FORM_VALUES.items():
                send(client, "get", path, f"?{param}={label}", data={param: value})
    card = send(client, "get", reverse("lead_card", args=[world["lead"].pk]), "panel", data={"compose": "1"})
    post_names |= _form_names(card.content.decode())
    baseline = {"body": "Hello", "number": "+15125550177", "label": "mobile", "evidence": "verbal", "note": "asked"}
    for path, _name in routes:
        for field in sorted(post_names):
            for label, value in FORM_VALUES.items():
                send(client, "post", path, f"{field}={label}", data={**baseline, field: value})


# --- admin (the admin registry) ----------------------------------------------------------------


def _form_value(value: Any) -> Any:
    if value is None or value is False:
        return None
    if value is True:
        return "on"
    if hasattr(value, "pk"):
        return str(value.pk)
    if isinstance(value, list | tuple):
        return [_form_value(v) for v in value]
    if callable(value):
        return _form_value(value())
    return str(value)


def _admin_form_data(response) -> tuple[dict[str, Any], list[str]]:
    """What the add/change page would post unchanged, and the main form's field names."""
    data: dict[str, Any] = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = _form_value(form.initial.get(name, field.initial))
        if value is not None:
            data[form.add_prefix(name)] = value
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
        for inline_form in formset.initial_forms:
            for name in inline_form.fields:
                value = _form_value(inline_form.initial.get(name))
                if value is not None:
                    data[inline_form.add_prefix(name)] = value
    return data, list(form.fields)


def _fuzz_admin(send: Recorder, client: Client, *, forms: bool) -> None:
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        response = send(client, "get", changelist, "plain")
        params = {"q", "o", "p", "e", "_to_field", "_popup"}
        if response.status_code == 200 and "cl" in response.context:
            for spec in response.context["cl"].filter_specs:
                params |= set(spec.expected_parameters())
            if model_admin.date_hierarchy:
                field = model_admin.date_hierarchy
                params |= {f"{field}__year", f"{field}__month", f"{field}__day"}
        for param in sorted(params):
            for label, value in FORM_VALUES.items():
                send(client, "get", changelist, f"?{param}={label}", data={param: value})
        first = model_admin.get_queryset(response.wsgi_request).order_by("pk").first()
        for label, value in FORM_VALUES.items():
            selected = [str(first.pk)] if first else []
            send(client, "post", changelist, f"action={label}", data={"action": value, "_selected_action": selected})
            send(client, "post", changelist, f"selected={label}", data={"action": "archive", "_selected_action": value})
        # Autocomplete for every foreign key whose target admin can be searched.
        for field in model._meta.get_fields():
            target = getattr(field, "related_model", None)
            if not getattr(field, "many_to_one", False) or target not in admin.site._registry:
                continue
            if not admin.site._registry[target].search_fields:
                continue
            for label, value in FORM_VALUES.items():
                query = {"app_label": info[0], "model_name": info[1], "field_name": field.name, "term": value}
                send(client, "get", reverse("admin:autocomplete"), f"{field.name} term={label}", data=query)
                send(
                    client,
                    "get",
                    reverse("admin:autocomplete"),
                    f"model_name={label}",
                    data={**query, "term": "a", "model_name": value},
                )
        if not forms:
            continue
        pages = [reverse("admin:{}_{}_add".format(*info))]
        if first is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
        for page in pages:
            response = send(client, "get", page, "form")
            if response.status_code != 200 or "adminform" not in response.context:
                continue
            baseline, names = _admin_form_data(response)
            for name in names:
                for label, value in FORM_VALUES.items():
                    send(client, "post", page, f"{name}={label}", data={**baseline, name: value})


# --- the REST API (the OpenAPI schema) ----------------------------------------------------------------


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _baseline_value(name: str, prop: dict, world: dict) -> Any:
    ids = {
        "facility": world["facility"].pk,
        "phone_number": world["phone"].pk,
        "lead": world["lead"].pk,
        "customer": world["customer"].pk,
        "template": world["template"].pk,
        "workflow": world["workflow"].pk,
    }
    if name in ids:
        return ids[name]
    if name == "number":
        return "+15125550179"
    if "enum" in prop:
        return next((v for v in prop["enum"] if v), None)
    return {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}.get(prop.get("type"), "Fuzz")


def _fuzz_api(send: Recorder, client: Client, world: dict) -> None:
    schema = json.loads(send(client, "get", "/api/schema/", "schema", data={"format": "json"}).content)
    prefix = schema.get("servers", [{}])[0].get("url", "") if schema.get("servers") else ""
    ids = {
        "leads": world["lead"].pk,
        "customers": world["customer"].pk,
        "phone-numbers": world["customer_phone"].pk,
        "templates": world["template"].pk,
        "messages": world["outbound"].pk,
        "tasks": world["task"].pk,
        "enrollments": world["enrollment"].pk,
        "workflows": world["workflow"].pk,
    }
    for raw_path, operations in schema["paths"].items():
        path = raw_path if raw_path.startswith("/api/") else prefix + raw_path
        if not path.startswith("/api/"):
            path = "/api/v1" + raw_path
        resource = path.split("/api/v1/", 1)[-1].split("/", 1)[0]
        concrete = re.sub(r"\{[^}]+\}", str(ids.get(resource, 1)), path)
        fuzzed_id = [re.sub(r"\{[^}]+\}", quote, path) for quote in ("%00", "9" * 30, "-1", "abc")]
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for target in fuzzed_id:
                send(client, method, target, "id")
            for parameter in operation.get("parameters", []):
                if parameter.get("in") != "query":
                    continue
                for label, value in FORM_VALUES.items():
                    send(client, "get", concrete, f"?{parameter['name']}={label}", data={parameter["name"]: value})
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None or method in ("get", "delete"):
                continue
            shape = _resolve(schema, body["schema"])
            properties = {k: _resolve(schema, v) for k, v in shape.get("properties", {}).items()}
            baseline = {k: _baseline_value(k, v, world) for k, v in properties.items() if not v.get("readOnly")}
            for name in properties:
                for label, value in JSON_VALUES.items():
                    document = json.dumps({**baseline, name: value})
                    send(client, method, concrete, f"{name}={label}", data=document, content_type="application/json")
            for label, document in {
                "list": "[]",
                "string": '"x"',
                "number": "5",
                "null": "null",
                "broken": "{",
                "deep": "[" * 101 + "]" * 101,
                "very_deep": "[" * 50_000,
            }.items():
                send(client, method, concrete, f"body={label}", data=document, content_type="application/json")
            if method == "post":
                for label, value in FORM_VALUES.items():
                    document = json.dumps(baseline)
                    headers = {"HTTP_IDEMPOTENCY_KEY": value}
                    send(
                        client,
                        method,
                        concrete,
                        f"Idempotency-Key={label}",
                        data=document,
                        content_type="application/json",
                        **headers,
                    )


# --- Twilio webhooks (every field of the stored payloads, signed) -------------------------------------


def _fuzz_webhooks(send: Recorder, client: Client) -> None:
    for url, name in (
        (INBOUND_URL, "inbound_sms"),
        (STATUS_URL, "status_delivered"),
        (STATUS_URL, "status_failed_21610"),
    ):
        base = payload(name)
        fields = set(base) | {"NumSegments", "ErrorCode", "ErrorMessage", "OptOutType", "MessagingServiceSid"}
        for field in sorted(fields):
            for label, value in FORM_VALUES.items():
                params = {**base, field: value}
                send(
                    client,
                    "post",
                    url,
                    f"{name}.{field}={label}",
                    data=urlencode(params),
                    content_type="application/x-www-form-urlencoded",
                    HTTP_X_TWILIO_SIGNATURE=sign(url, params),
                )


def test_no_bad_input_anywhere_answers_500(world, capsys):
    send = Recorder()
    manager, root = _client(world["manager"]), _client(world["root"])
    api = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world['manager']).key}"
    )

    _fuzz_pages(send, manager, world)
    _fuzz_admin(send, manager, forms=True)
    _fuzz_admin(send, root, forms=True)
    _fuzz_api(send, api, world)
    _fuzz_webhooks(send, Client(raise_request_exception=False))
    anonymous = Client(raise_request_exception=False)
    for label, value in FORM_VALUES.items():
        send(anonymous, "post", reverse("login"), f"username={label}", data={"username": value, "password": "x"})
        send(anonymous, "post", reverse("login"), f"password={label}", data={"username": "fuzz", "password": value})

    with capsys.disabled():
        print(f"\nfuzz: {send.sent} requests sent, {len(send.failures)} answered 500 or more")
    assert not send.failures, "\n".join(send.failures[:60])
