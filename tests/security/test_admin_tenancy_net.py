"""The admin tenancy net, generated from ``admin.site``'s registry: a ModelAdmin registered tomorrow is covered.

Two organizations. Organization B gets a row of every registered model (a builder below, or the generic
one that fills required fields), then every text field of every row B owns is overwritten with a canary.
As organization A's manager and agent, for every ModelAdmin: the changelist, every ``list_filter``'s choices,
search for the canary, every autocomplete a foreign key allows, the change / history / delete pages and
``/admin/r/`` for B's ids: the canary never shows, and B's ids answer exactly as a missing id does (404
wherever the user may use the admin at all). Every inline refuses another organization's row id with a
form error.

Run it: ``.venv/bin/python -m pytest tests/security/test_admin_tenancy_net.py -q``.
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
from collections.abc import Callable, Iterator
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction
from django.forms.models import model_to_dict
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField
from rest_framework.authtoken.models import Token

from core.admin import NOT_THIS_RECORDS_ROW, OrganizationScopedAdmin, SuperusersOnlyAdmin
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from integrations.services import api_key_create
from interactions.models import Organization
from interactions.services import consent_grant
from messaging.services import conversation_note_add, unsubscribe_link_get_or_create
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    HistoryFactory,
    LeadFactory,
    MembershipFactory,
    MessageFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.models import Enrollment, Task

CANARY = "qzcanaryqz"
CANARY_VALUE = re.compile(CANARY + r"\d+", re.IGNORECASE)
PROJECT_APPS = {"interactions", "messaging", "workflows", "integrations", "auth", "authtoken"}
# Text fields the canary can't go into without breaking what reads them (the value is parsed, not shown).
NOT_FREE_TEXT = {"time_zone"}


# --- organization B's world: a row of every registered model -------------------------------------------------
# Builders below for models whose rows need others (a person's numbers, a workflow's steps) or a service;
# any other registered model gets a row made from its fields (generic_row), and if neither works,
# test_every_registered_model_has_a_row_of_the_other_organization fails, naming it.


def _people(org: Organization, tag: str) -> dict[str, models.Model]:
    facility = FacilityFactory(organization=org)
    lead = LeadFactory(facility=facility)
    customer = CustomerFactory(facility=facility)
    lead_phone = PhoneNumberFactory(lead=lead)
    customer_phone = PhoneNumberFactory(lead=None, customer=customer)
    return {"facility": facility, "lead": lead, "customer": customer, "phone": lead_phone, "cphone": customer_phone}


def _workflow_rows(org: Organization, people: dict) -> None:
    step = WorkflowStepFactory(workflow=WorkflowFactory(organization=org))
    enrollment = Enrollment.objects.create(
        organization=org,
        workflow=step.workflow,
        lead=people["lead"],
        source=Enrollment.Source.MANUAL if hasattr(Enrollment.Source, "MANUAL") else Enrollment.Source.values[0],
        started_at=timezone.now(),
    )
    Task.objects.create(
        organization=org,
        kind=Task.Kind.values[0],
        due_at=timezone.now(),
        enrollment=enrollment,
        step=step,
        lead=people["lead"],
    )


def _integration_rows(org: Organization) -> None:
    endpoint = WebhookEndpoint.objects.create(
        organization=org,
        url="https://hooks.example.com/in",
        events=["message.delivered"],
        secret="whsec_" + secrets.token_urlsafe(32),
    )
    event = WebhookEvent.objects.create(
        organization=org,
        type=WebhookEvent._meta.get_field("type").choices[0][0],
        object_type="x",
        object_id="1",
        data={},
    )
    delivery = WebhookDelivery.objects.create(organization=org, endpoint=endpoint, event=event, object_key="x:1")
    WebhookAttempt.objects.create(
        organization=org, delivery=delivery, attempted_at=timezone.now(), status_code=500, duration_ms=12
    )
    api_key_create(organization=org, name="PMS sync")


def build_world(org: Organization, tag: str) -> None:
    """One organization's rows: every registered model, and the children its admin pages show inline."""
    people = _people(org, tag)
    user = MembershipFactory(organization=org).user
    Token.objects.create(user=user)
    Group.objects.create(name=f"group-{tag}")
    HistoryFactory(lead=people["lead"])
    HistoryFactory(lead=None, customer=people["customer"])
    MessageTemplateFactory(organization=org)
    consent_grant(organization=org, number=people["phone"].number, source="web_form", evidence="quote form")
    link = unsubscribe_link_get_or_create(organization=org, number=people["phone"].number)
    MessageFactory(phone_number=people["phone"], body=f"Hello\nUnsubscribe: {link.url}")  # as a text is sent
    conversation_note_add(person=people["lead"], author=user, body=f"{CANARY} team note")
    _workflow_rows(org, people)
    _integration_rows(org)


GENERIC_VALUES: list[tuple[type[models.Field], Callable[[], object]]] = [
    (models.CharField, lambda: CANARY),
    (models.TextField, lambda: CANARY),
    (models.BooleanField, lambda: False),
    (models.DecimalField, lambda: 0),
    (models.IntegerField, lambda: 1),
    (models.DateTimeField, timezone.now),
    (models.DateField, timezone.localdate),
    (models.TimeField, lambda: datetime.time(10, 0)),
    (models.JSONField, dict),
]


def _generic_value(field: models.Field, org: Organization, rows: dict) -> object:
    if field.is_relation:
        if field.related_model is Organization:
            return org
        pks = sorted(rows.get(field.related_model, ()))  # a row of the same organization, made before
        if not pks:
            raise LookupError(f"no {field.related_model._meta.label} row to point {field.name} at")
        return field.related_model._default_manager.get(pk=pks[0])
    if field.choices:
        return field.choices[0][0]
    for kind, make in GENERIC_VALUES:
        if isinstance(field, kind):
            return make()
    raise LookupError(f"no generic value for {type(field).__name__} {field.name}")


def generic_row(model: type[models.Model], org: Organization, rows: dict) -> models.Model | None:
    """A row of ``model`` for ``org`` made from its fields alone: what a new, simple admin gets with no builder."""
    values = {}
    for field in model._meta.concrete_fields:
        optional = field.primary_key or field.has_default() or field.null or not field.editable
        if not optional:
            try:
                values[field.name] = _generic_value(field, org, rows)
            except LookupError:
                return None
    try:
        with transaction.atomic():
            return model._default_manager.create(**values)
    except (DatabaseError, ValidationError, TypeError, ValueError):
        return None


def _project_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS and not m._meta.proxy]


def _snapshot() -> dict[type[models.Model], set]:
    return {model: set(model._default_manager.values_list("pk", flat=True)) for model in _project_models()}


def _canary_value(field: models.Field, pk) -> str | None:
    if field.primary_key or field.choices or isinstance(field, PhoneNumberField) or field.name in NOT_FREE_TEXT:
        return None
    if isinstance(field, models.EmailField):
        return f"{CANARY}{pk}@example.com"
    if isinstance(field, models.URLField):
        return f"https://{CANARY}.example.com/hook?token={CANARY}{pk}"
    if isinstance(field, models.CharField | models.TextField):
        value = f"{CANARY}{pk}"
        return value if field.max_length is None or len(value) <= field.max_length else None
    return None


def _paint_canaries(rows: dict[type[models.Model], set]) -> None:
    """Every text field of every row organization B owns carries the canary (written past the services)."""
    for model, pks in rows.items():
        for pk in pks:
            values = {}
            for field in model._meta.concrete_fields:
                value = _canary_value(field, pk)
                if value is not None:
                    values[field.attname] = value
            if values:
                model._default_manager.filter(pk=pk).update(**values)


class World:
    def __init__(self, ours: dict[type[models.Model], set], theirs: dict[type[models.Model], set]):
        self.ours, self.theirs = ours, theirs

    def their_pks(self, model: type[models.Model]) -> set:
        concrete = model._meta.concrete_model
        return self.theirs.get(concrete, set())


@pytest.fixture
def world(org, other_org, agent, manager) -> World:
    build_world(org, "01")
    before = _snapshot()
    build_world(other_org, "02")
    theirs = {model: pks - before.get(model, set()) for model, pks in _snapshot().items()}
    for model, _ in registered():  # no builder: try one made from the model's fields
        concrete = model._meta.concrete_model
        if not theirs.get(concrete) and (row := generic_row(concrete, other_org, theirs)) is not None:
            theirs.setdefault(concrete, set()).add(row.pk)
    theirs[Organization] = {other_org.pk}
    theirs = {model: pks for model, pks in theirs.items() if pks}
    _paint_canaries(theirs)
    return World(before, theirs)


def registered() -> list[tuple[type[models.Model], admin.ModelAdmin]]:
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _ids(item) -> str:
    return item[0]._meta.label


ROLES = ["manager", "agent"]


def _client(who: str, agent_client: Client, manager_client: Client) -> Client:
    return {"agent": agent_client, "manager": manager_client}[who]


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _shows_canary(text: str) -> bool:
    # Every canary value ends in its row's id; a search for the bare canary echoes only the term.
    return CANARY_VALUE.search(text) is not None


def _assert_no_canary(response, where: str) -> None:
    body = response.content.decode(errors="replace")
    assert not _shows_canary(body), f"{where}: organization B's text shows: {CANARY_VALUE.search(body)}"


def _missing_pk(model) -> object:
    last = model._default_manager.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 10_000 if isinstance(last, int) or last is None else f"{CANARY}-missing"


# --- every registered model has a row of organization B -------------------------------------------------------


@pytest.mark.parametrize("item", registered(), ids=_ids)
def test_every_registered_model_has_a_row_of_the_other_organization(item, world):
    model, _ = item
    assert world.their_pks(model), (
        f"{model._meta.label} is in the admin but the net builds no row of it for organization B: "
        "add it to build_world in tests/security/test_admin_tenancy_net.py"
    )


# --- changelist, filters, search ---------------------------------------------------------------------------------


def _filter_choices(model_admin, user) -> Iterator[str]:
    """Every choice of every list_filter the changelist offers this user, as Django builds them."""
    request = RequestFactory().get(_url(model_admin.model, "changelist"))
    request.user = user
    if not model_admin.has_view_permission(request):
        return
    changelist = model_admin.get_changelist_instance(request)
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            yield f"{spec.title}: {choice.get('display')} {choice.get('query_string')}"


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("item", registered(), ids=_ids)
def test_changelist_filters_and_search_never_show_another_organization(
    item, who, world, agent, manager, agent_client, manager_client
):
    model, model_admin = item
    client = _client(who, agent_client, manager_client)
    response = client.get(_url(model, "changelist"))
    assert response.status_code in (200, 403)
    _assert_no_canary(response, "changelist")
    for choice in _filter_choices(model_admin, {"agent": agent, "manager": manager}[who]):
        assert not _shows_canary(choice), f"list_filter offers organization B's row: {choice}"
    if response.status_code == 200:
        searched = client.get(_url(model, "changelist"), {"q": CANARY})
        assert searched.status_code == 200
        _assert_no_canary(searched, "search")


# --- autocomplete ------------------------------------------------------------------------------------------------


def _autocomplete_fields() -> Iterator[tuple[type[models.Model], str]]:
    """Every relation of a registered model to a registered, searchable one: Django's autocomplete answers for it."""
    for model, _ in registered():
        for field in model._meta.get_fields():
            remote = getattr(field, "related_model", None)
            if (field.many_to_one or field.many_to_many or field.one_to_one) and field.concrete and remote:
                remote_admin = admin.site._registry.get(remote)
                if remote_admin is not None and remote_admin.search_fields:
                    yield model, field.name


@pytest.mark.parametrize("who", ROLES)
def test_autocomplete_never_offers_another_organizations_rows(world, who, agent_client, manager_client):
    client = _client(who, agent_client, manager_client)
    fields = list(_autocomplete_fields())
    assert fields, "no autocomplete to try: the net lost its reach"
    for model, field_name in fields:
        remote = model._meta.get_field(field_name).related_model
        for term in (CANARY, ""):
            query = {"app_label": model._meta.app_label, "model_name": model._meta.model_name}
            response = client.get(reverse("admin:autocomplete"), {**query, "field_name": field_name, "term": term})
            where = f"autocomplete {model._meta.label}.{field_name} term={term!r}"
            assert response.status_code in (200, 403), where
            _assert_no_canary(response, where)
            if response.status_code == 200:
                offered = {str(result["id"]) for result in json.loads(response.content)["results"]}
                assert not offered & {str(pk) for pk in world.their_pks(remote)}, where


# --- object pages and /admin/r/ ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("item", registered(), ids=_ids)
def test_another_organizations_ids_answer_as_missing_ones_on_every_object_page(
    item, who, world, agent_client, manager_client
):
    model, _ = item
    client = _client(who, agent_client, manager_client)
    missing = _missing_pk(model)
    for view in ("change", "history", "delete"):
        assert client.get(_url(model, view, missing)).status_code == 404, f"{view} of a missing id"
        for pk in world.their_pks(model):
            response = client.get(_url(model, view, pk))
            assert response.status_code == 404, f"{view} of organization B's id {pk}: {response.status_code}"
            _assert_no_canary(response, view)
    before = {pk: model_to_dict(model._default_manager.get(pk=pk)) for pk in world.their_pks(model)}
    for pk in before:
        assert client.post(_url(model, "change", pk), {}).status_code in (403, 404)
        assert client.post(_url(model, "delete", pk), {"post": "yes"}).status_code in (403, 404)
    after = {pk: model_to_dict(model._default_manager.get(pk=pk)) for pk in before}
    assert after == before, "organization B's row was changed"


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize("item", registered(), ids=_ids)
def test_view_on_site_answers_the_same_404_for_another_organizations_id_and_a_missing_one(
    item, who, world, agent_client, manager_client
):
    model, _ = item
    client = _client(who, agent_client, manager_client)
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    shortcut = reverse("admin:view_on_site", args=[content_type.pk, _missing_pk(model)])
    missing = client.get(shortcut)
    assert missing.status_code == 404
    for pk in world.their_pks(model):
        response = client.get(reverse("admin:view_on_site", args=[content_type.pk, pk]))
        assert response.status_code == 404, f"/admin/r/ redirects for organization B's {model._meta.label} {pk}"
        assert response.content == missing.content
        _assert_no_canary(response, "/admin/r/")
    for odd in ("x", "1.5", "-1", "٣", str(2**70)):
        assert client.get(reverse("admin:view_on_site", args=[content_type.pk, odd])).status_code == 404


# --- inlines: another organization's row id is a form error -----------------------------------------------------


class _FormData(HTMLParser):
    """What a browser would post for the admin's change form: inputs, checked boxes, selected options, textareas."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "file", "button", "image"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self._add(name, a.get("value", ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def _inlines() -> Iterator[tuple[type[models.Model], admin.ModelAdmin, type]]:
    for model, model_admin in registered():
        for inline in model_admin.inlines:
            yield model, model_admin, inline


def test_the_net_reaches_inlines():
    assert list(_inlines()), "no inline to try: the net lost its reach"


@pytest.mark.parametrize("case", list(_inlines()), ids=lambda c: f"{c[0]._meta.label}-{c[2].model._meta.model_name}")
def test_an_inline_refuses_another_organizations_row_id_with_a_form_error(case, world, org, manager, manager_client):
    model, model_admin, inline = case
    child = inline.model
    fk = next(f for f in child._meta.fields if f.is_relation and f.related_model is model)
    ours = child._default_manager.filter(**{f"{fk.name}__organization": org}).exclude(**{f"{fk.name}": None}).first()
    theirs = sorted(world.their_pks(child))
    assert ours is not None and theirs, f"the net builds no {child._meta.label} rows of both organizations"
    parent = getattr(ours, fk.name)
    url = _url(model, "change", parent.pk)
    page = manager_client.get(url)
    if page.status_code != 200:
        pytest.skip("the manager can't open this page")
    form = _FormData()
    form.feed(page.content.decode())
    pk_name = child._meta.pk.name
    keys = [name for name in form.data if name.endswith(f"-0-{pk_name}") and form.data[name] == [str(ours.pk)]]
    if not keys:
        pytest.skip(f"{child._meta.label} rows are shown, not posted, on this page")
    before = model_to_dict(child._default_manager.get(pk=theirs[0]))
    data = {**form.data, keys[0]: [str(theirs[0])]}
    response = manager_client.post(url, data)
    request = RequestFactory().get(url)
    request.user = manager
    if not model_admin.has_change_permission(request, parent):  # a read-only record (a delivery's log)
        assert response.status_code == 403, f"posting to a read-only {model._meta.label}: {response.status_code}"
    elif inline(model, admin.site).has_change_permission(request, parent):
        assert response.status_code == 200, f"posting organization B's {child._meta.label} id: {response.status_code}"
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
        assert NOT_THIS_RECORDS_ROW in response.content.decode(), f"no form error naming the foreign row: {errors}"
    else:  # a read-only inline (history) never writes: no 500 (server_errors) and nothing of B's changes
        assert response.status_code in (200, 302)
    assert model_to_dict(child._default_manager.get(pk=theirs[0])) == before
    _assert_no_canary(response, "inline refusal")


# --- by construction: every admin is scoped, and no page shows a credential ------------------------------------


def test_every_admin_is_scoped_to_the_organization_or_kept_for_superusers():
    loose = [
        model._meta.label
        for model, model_admin in registered()
        if not isinstance(model_admin, OrganizationScopedAdmin | SuperusersOnlyAdmin)
    ]
    assert not loose, f"admins on neither OrganizationScopedAdmin nor SuperusersOnlyAdmin (core/admin.py): {loose}"


# Fields holding a credential: whoever reads one can act as its owner (sign webhooks, opt a person out, call the API).
CREDENTIAL = re.compile(r"secret|token|key_hash|password|^key$")


def _credentials(world: World) -> dict[str, str]:
    found = {}
    for model, pks in world.ours.items():
        fields = [f.attname for f in model._meta.concrete_fields if CREDENTIAL.search(f.name) and not f.is_relation]
        for row in model._default_manager.filter(pk__in=pks).values("pk", *fields) if fields else ():
            for name in fields:
                if isinstance(row[name], str) and len(row[name]) >= 8:
                    found[row[name]] = f"{model._meta.label}.{name} of row {row['pk']}"
    return found


@pytest.mark.parametrize("who", ROLES)
def test_no_admin_page_shows_a_credential_of_the_organizations_own_rows(world, who, agent_client, manager_client):
    client = _client(who, agent_client, manager_client)
    credentials = _credentials(world)
    assert any("UnsubscribeLink.token" in where for where in credentials.values()), "the net lost the tokens"
    assert any("WebhookEndpoint.secret" in where for where in credentials.values()), "the net lost the secrets"
    for model, _ in registered():
        pages = [_url(model, "changelist")]
        pages += [_url(model, view, pk) for pk in sorted(world.ours.get(model, ())) for view in ("change", "history")]
        for page in pages:
            body = client.get(page).content.decode()
            shown = [where for value, where in credentials.items() if value in body]
            assert not shown, f"{page} shows {shown}"
