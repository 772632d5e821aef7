"""The fuzz net: every route, method, form field and query parameter, as every kind of caller.

Nothing here lists a route, a field or a parameter by hand; a surface added tomorrow is fuzzed
the day it exists:

- **the URLconf**, walked recursively (``get_resolver()``): every pattern, the admin's and the
  API's included. Each URL parameter is filled with an id of the organization's own rows (the
  first that resolves and does not answer 404 is the page's "live" address), then with another
  organization's ids, 0, -1, a number past 64 bits and non-ASCII digits (``١``, ``５``). Every
  HTTP method is tried; those that do not answer 405 are the methods the view accepts.
- **the parameters a view reads**, found by recording: during a first normal request each
  ``request.GET`` / ``request.POST`` is a ``QueryDict`` that notes every key read (``get``,
  ``[]``, ``getlist``, ``in``); a second request with those keys set finds the ones read only
  then (``?compose=1`` reveals ``template`` and ``task``). Form fields come besides from the
  view's form class (``form_class`` / ``get_form_class``) and from the ``<form>`` fields of the
  page it renders.
- **the admin registry**: every changelist with each filter's parameters, actions, autocomplete,
  and every field of the add and change forms posted with the rest of the form intact.
- **the OpenAPI schema**: every operation with each path, query and header parameter (``cursor``,
  ``page_size``, ``Idempotency-Key``…), each body property with values of the wrong type, whole
  bodies that are not objects, and bodies in other media types (multipart with and without a
  boundary, a form, plain text).
- **Twilio's webhooks**: every field of the stored payloads, signed.

Values: NUL, 10,000 and 100,000 characters, the wrong type, non-ASCII digits, garbage and crafted
base64 (an API cursor), spreadsheet formulas, lone surrogates (as bytes: invalid UTF-8) and odd
Unicode. Callers: an agent, a manager, an API key and nobody. Each value set is sampled (seeded,
so a run repeats), but every route and every key meets every caller.

Fails on any answer of 500 or more (and, through the ``server_errors`` fixture, on any server
error logged), and on an error under ``/api/`` that is not JSON in the API's shape. It prints
how many requests it sent; run with ``-s`` to see it (README "Security", "Fuzz and contract nets").
"""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from itertools import product
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.test import Client
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from integrations.services import api_key_create, endpoint_create
from interactions.models import History, Membership
from interactions.services import consent_grant, history_record
from messaging.models import Message, UnsubscribeLink
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    MembershipFactory,
    MessageFactory,
    MessageTemplateFactory,
    OrganizationFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from tests.messaging.twilio_payloads import INBOUND_URL, STATUS_URL, payload, sign

pytestmark = pytest.mark.django_db

# ``make test`` samples each value set for every caller (every route, key and caller still met);
# FUZZ_NET_THOROUGH=1 (``make fuzz``) has the manager try every value on every page and operation:
# about 21,000 requests instead of about 6,000, too long for every run of the suite.
THOROUGH = os.environ.get("FUZZ_NET_THOROUGH", "") == "1"

RAW = "raw:"  # a value already percent-encoded: bytes a Python string can't carry (invalid UTF-8)
CRAFTED_CURSOR = base64.urlsafe_b64encode(json.dumps({"v": "abc", "i": 1, "r": False}).encode()).decode()
# What a query string or a form can carry: text only.
TEXT_VALUES: dict[str, str] = {
    "nul": "a\x00b",
    "overlong_10k": "x" * 10_000,
    "overlong_100k": "y" * 100_000,
    "empty": "",
    "zero": "0",
    "negative": "-1",
    "huge_number": "9" * 40,
    "float": "1e308",
    "arabic_digit": "١",
    "fullwidth_digit": "５",
    "mixed_digits": "1١５",
    "wrong_type": '[{"a": null}]',
    "garbage_base64": "!!bm90*YmFzZTY0==%%",
    "crafted_cursor": CRAFTED_CURSOR,
    "formula": '=HYPERLINK("http://evil.example","x")',
    "formula_tab": "\t=1+1",
    "formula_plus": "+1+1",
    "formula_at": "@SUM(A1)",
    "odd_unicode": "\u202e👋🏽\ufeffＡe\u0301\u200d",
    "impossible_date": "2026-13-45T99:99",
    "other_site": "//evil.example/",
    "lone_surrogate": RAW + "%ED%A0%80",
    "invalid_utf8": RAW + "%FF%FE",
}
# What a JSON body can carry besides: other types, a lone surrogate, extreme numbers.
JSON_VALUES: dict[str, Any] = {
    **{k: v for k, v in TEXT_VALUES.items() if not v.startswith(RAW) and k != "overlong_100k"},
    "lone_surrogate": "\ud800",
    "list": [1, "a", None],
    "object": {"a": {"b": None}},
    "null": None,
    "true": True,
    "int_zero": 0,
    "negative_int": -1,
    "big_int": 10**30,
    "float_max": 1e308,
}
# A URL parameter besides the organization's own ids and another organization's.
PATH_VALUES = ["0", "-1", "9" * 25, "١", "５", "1١"]
METHODS = ("get", "post", "put", "patch", "delete")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Bodies of other media types than the API's JSON: each must be refused in the API's shape.
OTHER_BODIES = {
    "multipart_without_boundary": ("multipart/form-data", b"--x\r\n"),
    "multipart_with_boundary": (
        "multipart/form-data; boundary=fuzz",
        b'--fuzz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--fuzz--\r\n',
    ),
    "form": ("application/x-www-form-urlencoded", b"name=x&body=y"),
    "text": ("text/plain", b"name=x"),
    "json_wrong_charset": ("application/json; charset=utf-16", b'{"name": "x"}'),
}
API_PREFIX = "/api/"
# Routes the admin registry's walk and the schema's walk fuzz in depth (forms posted whole, bodies
# by type): the URLconf walk sends every caller there once per method, and the first caller's values.
DEEPER_ELSEWHERE = ("admin/", "api/")
# Pages of the API that are HTML by design (Swagger UI) and the machine-readable schema itself.
API_NOT_JSON = ("/api/docs/", "/api/schema/")


# --- sending -------------------------------------------------------------------------------------


class Recorder:
    """Sends requests and keeps every answer of 500 or more, and every API error that is not JSON.

    Each request runs in a savepoint that is rolled back: every request meets the same rows (a
    task completed by one request is still open for the next), and a database error in one
    request can't spill into the next one.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.by_caller: dict[str, int] = {}
        self.failures: list[str] = []
        self.form_fields: dict[str, set[str]] = {}
        self.marks: list[str] = []  # a form's action -> its field names, from every page seen

    def __call__(self, caller: Caller, method: str, path: str, what: str, **kwargs: Any) -> HttpResponse:
        cache.clear()  # rate limits and lock-outs count in the cache: the fuzz must not be throttled
        # The caller keeps its session whatever the request did (a fuzzed sign-out, a session cookie
        # replaced): its rows are rolled back below, and a caller signed out by one request would
        # meet every later page as nobody.
        cookies = copy.deepcopy(caller.client.cookies)
        with transaction.atomic():
            response = getattr(caller.client, method)(path, **kwargs)
            transaction.set_rollback(True)
        caller.client.cookies = cookies
        self.sent += 1
        self.by_caller[caller.name] = self.by_caller.get(caller.name, 0) + 1
        where = f"{method.upper()} {path[:160]} as {caller.name} [{what}]"
        if response.status_code >= 500:
            self.failures.append(f"{response.status_code} {where}")
        elif _api_error_not_json(path, response):
            self.failures.append(f"{response.status_code} not JSON ({response.get('Content-Type')}) {where}")
        if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            self._collect_forms(path.split("?")[0], response.content.decode(errors="replace"))
        return response

    def mark(self, section: str, started: float) -> None:
        self.marks.append(f"{section} to {self.sent} by {time.monotonic() - started:.0f} s")

    def _collect_forms(self, here: str, html: str) -> None:
        for action, inside in _FORM.findall(html):
            target = (action.split("?")[0] or here) if not action.startswith(("http", "//")) else None
            if target:
                self.form_fields.setdefault(target, set()).update(_FIELD.findall(inside))
                self.form_fields[target].discard("csrfmiddlewaretoken")


_FORM = re.compile(r'<form\b[^>]*?(?:action="([^"]*)")?[^>]*>(.*?)</form>', re.DOTALL)
_FIELD = re.compile(r'<(?:input|textarea|select|button)\b[^>]*\bname="([^"]+)"')


def _api_error_not_json(path: str, response: HttpResponse) -> bool:
    if response.status_code < 400 or not path.startswith(API_PREFIX) or path.startswith(API_NOT_JSON):
        return False
    if not response.get("Content-Type", "").startswith("application/json"):
        return True
    body = json.loads(response.content)
    return not (isinstance(body, dict) and isinstance(body.get("code"), str) and isinstance(body.get("detail"), str))


@dataclass
class Caller:
    name: str
    client: Client
    values: int  # how many values of each set this caller tries per key
    thorough: bool = False  # every value on the project's own pages and in the schema's walk (the admin's sampled)

    def depth(self, sampled: int, *, everything: bool = True) -> int:
        return 10**6 if self.thorough and everything else sampled


def _query(key: str, value: str) -> str:
    encoded = value[len(RAW) :] if value.startswith(RAW) else quote(value, safe="")
    return f"{quote(key, safe='')}={encoded}"


def _form_body(data: dict[str, str]) -> str:
    return "&".join(_query(key, value) for key, value in data.items())


def _sample(values: dict[str, Any], k: int, seed: str) -> list[tuple[str, Any]]:
    items = list(values.items())
    return random.Random(seed).sample(items, min(k, len(items)))


# --- recording which keys a view reads ----------------------------------------------------------


class RecordingQueryDict(QueryDict):
    """A ``QueryDict`` that notes every key a view reads from it."""

    def __init__(self, query_string=None, mutable=False, encoding=None, *, seen: set[str] | None = None) -> None:
        self.seen: set[str] = set()  # parsing the query string already asks ``in``: nothing is read yet
        super().__init__(query_string, mutable=mutable, encoding=encoding)  # QueryDict's signature: copy() uses it
        self.seen = set() if seen is None else seen

    def __getitem__(self, key):
        self.seen.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.seen.add(key)
        return super().get(key, default)

    def getlist(self, key, default=None):
        self.seen.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        self.seen.add(key)
        return super().__contains__(key)


class KeyRecordingMiddleware:
    """While ``recording`` is set, hands views recording copies of ``request.GET`` and ``request.POST``."""

    recording: set[str] | None = None

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seen = KeyRecordingMiddleware.recording
        if seen is not None:
            request.GET = RecordingQueryDict(request.GET.urlencode(), encoding=request.GET.encoding, seen=seen)
            if request.method == "POST" and request.content_type in FORM_TYPES:
                request.POST = RecordingQueryDict(request.POST.urlencode(), encoding=request.POST.encoding, seen=seen)
        return self.get_response(request)


def _recorded(send: Recorder, caller: Caller, method: str, path: str, **kwargs: Any) -> tuple[HttpResponse, set[str]]:
    seen: set[str] = set()
    KeyRecordingMiddleware.recording = seen
    try:
        response = send(caller, method, path, "recording", **kwargs)
    finally:
        KeyRecordingMiddleware.recording = None
    return response, seen


# --- the world: two organizations, with a row of every kind -------------------------------------


def _model(name: str):
    """A model by class name, whatever app it lives in."""
    return next(m for m in apps.get_models() if m.__name__ == name)


def _organization_rows(slug: str, number_prefix: str) -> dict[str, Any]:
    org = OrganizationFactory(name=f"Fuzz {slug}", slug=slug, quiet_hours_start="00:00", quiet_hours_end="23:59")
    facility = FacilityFactory(organization=org, name=f"Fuzz {slug} Austin")
    manager = MembershipFactory(organization=org, role=Membership.Role.MANAGER, user__username=f"{slug}-manager").user
    agent = MembershipFactory(organization=org, role=Membership.Role.AGENT, user__username=f"{slug}-agent").user
    phone = PhoneNumberFactory(lead__facility=facility, number=f"{number_prefix}142")
    consent_grant(organization=org, number=phone.number, source="web_form", evidence="quote form")
    customer = CustomerFactory(facility=facility, balance_due="50.00")
    customer_phone = PhoneNumberFactory(lead=None, customer=customer, number=f"{number_prefix}143")
    template = MessageTemplateFactory(organization=org)
    workflow = WorkflowFactory(organization=org, kind="lead_follow_up", name="Follow up")
    step = WorkflowStepFactory(workflow=workflow, action="manual_text", template=template)
    now = timezone.now()
    enrollment = _model("Enrollment").objects.create(
        organization=org, workflow=workflow, lead=phone.lead, source="agent", started_at=now, next_step=step
    )
    rows = {
        "org": org,
        "facility": facility,
        "manager": manager,
        "agent": agent,
        "phone": phone,
        "lead": phone.lead,
        "customer": customer,
        "customer_phone": customer_phone,
        "history": history_record(owner=phone.lead, kind=History.Kind.CALL, summary="Called.", agent=manager),
        "template": template,
        "outbound": MessageFactory(phone_number=phone, status=Message.Status.SENT, provider_sid=f"SM{slug:a<32}"),
        "inbound": MessageFactory(
            phone_number=phone,
            direction=Message.Direction.INBOUND,
            status=Message.Status.RECEIVED,
            to_number=facility.sms_sender_number,
            from_number=phone.number,
            body="please stop texting me",
            flagged_opt_out_request=True,
        ),
        "link": UnsubscribeLink.objects.create(organization=org, number=phone.number),
        "workflow": workflow,
        "enrollment": enrollment,
        "task": _model("Task").objects.create(
            organization=org,
            kind="manual_text",
            due_at=now - timedelta(hours=1),
            enrollment=enrollment,
            step=step,
            lead=phone.lead,
        ),
        "endpoint": endpoint_create(organization=org, url="http://127.0.0.1:9/hook", events=["message.queued"]),
    }
    rows["api_key"], rows["key"] = api_key_create(organization=org, name="PMS sync", created_by=manager)
    rows["manager_key"] = api_key_create(
        organization=org, name="Admin sync", role=Membership.Role.MANAGER, created_by=manager
    )[1]
    return rows


@pytest.fixture
def world(settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[: settings.MIDDLEWARE.index("config.input_guard.InputGuardMiddleware") + 1],
        f"{__name__}.KeyRecordingMiddleware",
        *settings.MIDDLEWARE[settings.MIDDLEWARE.index("config.input_guard.InputGuardMiddleware") + 1 :],
    ]
    own = _organization_rows("fuzz", "+15125550")
    other = _organization_rows("rival", "+17375550")
    root = get_user_model().objects.create_superuser("fuzz-root", "root@example.com", "pw-12345!x")
    return {**own, "root": root, "other": other}


def _ids(rows: dict[str, Any]) -> list[str]:
    """Every row id of an organization, once each: the candidates for a URL's id parameter."""
    ids = (row.pk for row in rows.values() if hasattr(row, "pk") and isinstance(row.pk, int))
    return [str(pk) for pk in dict.fromkeys(ids)]


def _callers(world: dict) -> list[Caller]:
    def signed_in(user) -> Client:
        client = Client(raise_request_exception=False)
        client.force_login(user)
        return client

    return [
        Caller("manager", signed_in(world["manager"]), values=2, thorough=THOROUGH),
        Caller("agent", signed_in(world["agent"]), values=1),
        Caller("api-key", Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {world['key']}"), 1),
        Caller("anonymous", Client(raise_request_exception=False), values=1),
    ]


# --- the URLconf ---------------------------------------------------------------------------------


@dataclass
class Route:
    """One URL pattern: its address with ``{name}`` holes, and what each hole is."""

    template: str
    pattern: URLPattern
    params: dict[str, str] = field(default_factory=dict)  # name -> "int" or "text"

    def fill(self, values: dict[str, str]) -> str:
        return "/" + self.template.format(**{name: quote(values[name], safe="/") for name in self.params})


_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def routes(patterns=None, prefix: str = "") -> Iterator[Route]:
    """Every pattern of the URLconf, its prefixes joined, its parameters as holes."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + _template(str(pattern.pattern), {}))
            continue
        params: dict[str, str] = {}
        template = prefix + _template(str(pattern.pattern), params)
        params.update({name: "text" for name in re.findall(r"\{(\w+)\}", prefix) if name not in params})
        yield Route(template, pattern, params)


def _names_an_id(name: str) -> bool:
    """A parameter the admin or the API names ``object_id``, ``pk``, ``id``: an id, whatever its converter."""
    return name in ("pk", "id") or name.endswith("_id")


def _template(raw: str, params: dict[str, str]) -> str:
    def converter(match: re.Match) -> str:
        params[match.group(2)] = "int" if match.group(1) == "int" or _names_an_id(match.group(2)) else "text"
        return "{" + match.group(2) + "}"

    def group(match: re.Match) -> str:
        params[match.group(1)] = "int" if _names_an_id(match.group(1)) else "text"
        return "{" + match.group(1) + "}"

    text = _CONVERTER.sub(converter, _GROUP.sub(group, raw))  # groups first: ``(?P<name>`` holds a ``<name>``
    return text.lstrip("^").rstrip("$").replace("/?", "/").replace(".*", "x").replace("\\", "")


def _resolves_to(path: str, route: Route) -> bool:
    try:
        return resolve(path.split("?")[0]).func is route.pattern.callback
    except Resolver404:
        return False


def _text_candidates(world: dict) -> list[str]:
    """Values a text parameter may need to resolve: kinds of people, a token, app labels, names."""
    labels = [config.label for config in apps.get_app_configs()]
    return ["lead", "customer", "leads", world["link"].token, *labels, "x", "1"]


def _row_model(route: Route):
    """The model an admin or API route serves (``None`` for the project's own views)."""
    callback = route.pattern.callback
    model_admin = getattr(callback, "model_admin", None)
    if model_admin is not None:
        return model_admin.model
    queryset = getattr(getattr(callback, "cls", None), "queryset", None)
    return getattr(queryset, "model", None)


def _id_candidates(route: Route, name: str, world: dict) -> list[str]:
    """Ids for parameter ``name``, likeliest first: rows of the route's model, then every row of the organization."""
    model = _row_model(route)
    by_name = {"phone_id": ("phone", "customer_phone"), "message_id": ("inbound", "outbound")}
    likely = [str(world[key].pk) for key in by_name.get(name, ())]
    if model is not None:
        likely += [str(row.pk) for row in world.values() if isinstance(row, model)]
        if (first := model._default_manager.order_by("pk").first()) is not None:
            likely.append(str(first.pk))
    return list(dict.fromkeys([*likely, *_ids(world)]))


def _live_address(send: Recorder, caller: Caller, route: Route, world: dict) -> str | None:
    """The route filled with the organization's own rows: the first address that resolves and isn't a 404."""
    texts = _text_candidates(world)
    names = sorted(route.params, key=lambda name: route.params[name] == "int")  # ids vary fastest
    options = [_id_candidates(route, n, world) if route.params[n] == "int" else texts for n in names]
    first, tried = None, 0
    for combination in product(*options):
        path = route.fill(dict(zip(names, combination, strict=True)))
        if not _resolves_to(path, route):
            continue
        first, tried = first or path, tried + 1
        if not route.params or tried > 6:
            return first
        status = send(caller, "get", path, "live?").status_code
        if status == 405:
            status = send(caller, "post", path, "live?", **_as_form({})).status_code
        if status != 404:
            return path
    return first


def _accepted_methods(send: Recorder, caller: Caller, path: str) -> list[str]:
    return [method for method in METHODS if send(caller, method, path, "method").status_code != 405]


def _form_class_fields(route: Route) -> set[str]:
    view_class = getattr(route.pattern.callback, "view_class", None)
    form_class = getattr(view_class, "form_class", None)
    if form_class is None and view_class is not None and hasattr(view_class, "get_form_class"):
        try:
            form_class = view_class().get_form_class()
        except (AttributeError, TypeError):
            form_class = None
    return set(getattr(form_class, "base_fields", {}))


@dataclass
class Surface:
    """One route as the net fuzzes it: its live address, the methods it accepts, the keys each reads."""

    route: Route
    path: str
    keys: dict[str, set[str]]  # method -> keys


def _discover(send: Recorder, caller: Caller, route: Route, path: str) -> Surface:
    """The methods ``path`` accepts and, for each, the keys its view reads (recording, twice)."""
    keys: dict[str, set[str]] = {}
    for method in _accepted_methods(send, caller, path):
        is_form = method != "get"
        found = _recorded(send, caller, method, path, **(_as_form({"next": "/"}) if is_form else {}))[1]
        if is_form:
            found |= _form_class_fields(route) | send.form_fields.get(path.split("?")[0], set())
        probe = {key: "1" for key in found}
        found |= _recorded(send, caller, method, path, **(_as_form(probe) if is_form else {"data": probe}))[1]
        keys[method] = found
    return Surface(route, path, keys)


def _fuzz_surface(send: Recorder, caller: Caller, surface: Surface, world: dict) -> None:
    route, path = surface.route, surface.path
    if route.template.startswith(DEEPER_ELSEWHERE) and not caller.thorough:
        for method in surface.keys:  # the admin registry's and the schema's walks go deeper below
            send(caller, method, path, "plain")
        return
    # The URL's parameters: another organization's ids, 0, -1, past 64 bits, non-ASCII digits.
    for name, kind in route.params.items():
        base = {n: _unfill(route, path, n) for n in route.params}
        values = (_ids(world["other"])[:4] + PATH_VALUES) if kind == "int" else list(TEXT_VALUES.values())[:8]
        for value in random.Random(f"{route.template}{name}{caller.name}").sample(
            values,
            min(len(values), caller.depth(caller.values, everything=not route.template.startswith(DEEPER_ELSEWHERE))),
        ):
            for method in surface.keys:
                send(caller, method, route.fill({**base, name: value.removeprefix(RAW)}), f"{name}={value[:12]!r}")
    for method, keys in surface.keys.items():
        if method != "get" and route.template.startswith("admin/"):
            continue  # posted with the rest of the form intact by the admin registry's walk
        probe = {key: "1" for key in keys}
        for key in sorted(keys):
            for label, value in _sample(
                TEXT_VALUES,
                caller.depth(caller.values, everything=not route.template.startswith(DEEPER_ELSEWHERE)),
                f"{path}{method}{key}{caller.name}",
            ):
                if method == "get":
                    send(caller, "get", f"{path}?{_query(key, value)}", f"?{key}={label}")
                else:
                    send(caller, method, path, f"{key}={label}", **_as_form({**probe, key: value}))


def _unfill(route: Route, path: str, name: str) -> str:
    """The value the live address gave parameter ``name``."""
    regex = re.escape("/" + route.template)
    for other in route.params:
        regex = regex.replace(re.escape("{" + other + "}"), f"(?P<{other}>.+?)")
    match = re.fullmatch(regex, path)
    return match.group(name) if match else "1"


def _as_form(data: dict[str, str]) -> dict[str, Any]:
    return {"data": _form_body(data), "content_type": "application/x-www-form-urlencoded"}


def _fuzz_urlconf(
    send: Recorder, callers: list[Caller], world: dict, only: Callable[[Route], bool] | None = None
) -> int:
    """Every route of the URLconf (``only`` picks some): found live by the first caller, fuzzed by every caller."""
    walked = [route for route in routes() if not route.template.startswith(("static/", "media/"))]
    walked = [route for route in walked if only is None or only(route)]
    first = callers[0]
    addresses = {route.template: _live_address(send, first, route, world) for route in walked}
    # A first look at every page with the keys it reads set: the forms it renders (their actions'
    # fields) are known before any form is posted.
    for path in filter(None, addresses.values()):
        probe = {key: "1" for key in _recorded(send, first, "get", path)[1]}
        send(first, "get", path, "forms", data=probe)
    for route in walked:
        if (path := addresses[route.template]) is None:
            continue
        surface = _discover(send, first, route, path)
        for caller in callers:
            _fuzz_surface(send, caller, surface, world)
    return len(walked)


# --- the admin registry ----------------------------------------------------------------------


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
    for name, form_field in form.fields.items():
        value = _form_value(form.initial.get(name, form_field.initial))
        if value is not None:
            data[form.add_prefix(name)] = value
    names = list(form.fields)
    for inline in response.context.get("inline_admin_formsets", []):
        formset = inline.formset
        for key, value in formset.management_form.initial.items():
            data[f"{formset.prefix}-{key}"] = value
        for inline_form in formset.initial_forms:
            for name in inline_form.fields:
                value = _form_value(inline_form.initial.get(name))
                if value is not None:
                    data[inline_form.add_prefix(name)] = value
                names.append(inline_form.add_prefix(name))
    return data, names


def _fuzz_admin(send: Recorder, caller: Caller) -> None:
    values = dict(_sample(TEXT_VALUES, caller.values, caller.name))
    values = {k: v for k, v in values.items() if not v.startswith(RAW)}
    for model, model_admin in admin.site._registry.items():
        info = model._meta.app_label, model._meta.model_name
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        response = send(caller, "get", changelist, "plain")
        params = {"q", "o", "p", "e", "_to_field", "_popup"}
        if response.status_code == 200 and "cl" in response.context:
            for spec in response.context["cl"].filter_specs:
                params |= set(spec.expected_parameters())
            if model_admin.date_hierarchy:
                params |= {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
        for param in sorted(params):
            for label, value in values.items():
                send(caller, "get", changelist, f"?{param}={label}", data={param: value})
        first = model_admin.get_queryset(response.wsgi_request).order_by("pk").first()
        for label, value in values.items():
            selected = [str(first.pk)] if first else []
            send(caller, "post", changelist, f"action={label}", data={"action": value, "_selected_action": selected})
            send(caller, "post", changelist, f"selected={label}", data={"action": "archive", "_selected_action": value})
        _fuzz_autocomplete(send, caller, model, info, values)
        pages = [reverse("admin:{}_{}_add".format(*info))]
        if first is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
        for page in pages:
            response = send(caller, "get", page, "form")
            if response.status_code != 200 or "adminform" not in response.context:
                continue
            baseline, names = _admin_form_data(response)
            for name in names:
                for label, value in values.items():
                    send(caller, "post", page, f"{name}={label}", data={**baseline, name: value})


def _fuzz_autocomplete(send: Recorder, caller: Caller, model, info: tuple[str, str], values: dict) -> None:
    """Autocomplete for every foreign key whose target admin can be searched."""
    for model_field in model._meta.get_fields():
        target = getattr(model_field, "related_model", None)
        if not getattr(model_field, "many_to_one", False) or target not in admin.site._registry:
            continue
        if not admin.site._registry[target].search_fields:
            continue
        query = {"app_label": info[0], "model_name": info[1], "field_name": model_field.name}
        for label, value in values.items():
            send(caller, "get", reverse("admin:autocomplete"), f"{model_field.name} term={label}",
                 data={**query, "term": value})  # fmt: skip
            send(caller, "get", reverse("admin:autocomplete"), f"model_name={label}",
                 data={**query, "term": "a", "model_name": value})  # fmt: skip


# --- the REST API (the OpenAPI schema) -------------------------------------------------------


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _baseline_value(name: str, prop: dict, world: dict) -> Any:
    if name in world and hasattr(world[name], "pk"):
        return world[name].pk
    if name == "phone_number":
        return world["phone"].pk
    if name == "number":
        return "+15125550179"
    if "enum" in prop:
        return next((v for v in prop["enum"] if v), None)
    if prop.get("type") == "array" and "enum" in prop.get("items", {}):
        return prop["items"]["enum"][:1]
    return {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}.get(prop.get("type"), "Fuzz")


def _own_id(world: dict, path: str) -> str:
    """The id of the organization's row of the resource a schema path names."""
    resource = path.split("/api/v1/", 1)[-1].split("/", 1)[0]
    names = {"phone-numbers": "customer_phone", "messages": "outbound", "webhook-endpoints": "endpoint",
             "webhook-deliveries": "delivery", "api-keys": "api_key"}  # fmt: skip
    name = names.get(resource, resource.rstrip("s"))
    row = world.get(name)
    if name == "delivery":
        row = world["endpoint"].deliveries.first()
    return str(row.pk) if row is not None else "1"


def _fuzz_operation(send: Recorder, caller: Caller, schema: dict, path: str, method: str, world: dict) -> None:
    operation = schema["paths"][path][method]
    concrete = re.sub(r"\{[^}]+\}", _own_id(world, path), path)
    variants = [*_ids(world["other"])[:3], *PATH_VALUES]
    for value in random.Random(f"{path}{method}{caller.name}").sample(
        variants, min(len(variants), caller.depth(3 * caller.values))
    ):
        send(caller, method, re.sub(r"\{[^}]+\}", quote(value), path), f"id={value!r}")
    values = _sample(TEXT_VALUES, caller.depth(caller.values * 2 + 1), f"{path}{method}{caller.name}")
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        for label, value in values:
            if where == "query":
                send(caller, method, f"{concrete}?{_query(name, value)}", f"?{name}={label}")
            elif where == "header" and not value.startswith(RAW) and "\x00" not in value:
                header = "HTTP_" + name.upper().replace("-", "_")
                # A read's header (If-None-Match) goes without a body; a write's with an empty object.
                body = {} if method in ("get", "head", "delete") else {"data": "{}", "content_type": "application/json"}
                send(caller, method, concrete, f"{name}: {label}", **body, **{header: value})
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return
    shape = _resolve(schema, body["schema"])
    properties = {k: _resolve(schema, v) for k, v in shape.get("properties", {}).items()}
    baseline = {k: _baseline_value(k, v, world) for k, v in properties.items() if not v.get("readOnly")}
    for name in properties:
        for label, value in _sample(JSON_VALUES, caller.values * 2 + 1, f"{path}{method}{name}{caller.name}"):
            document = json.dumps({**baseline, name: value})
            send(caller, method, concrete, f"{name}={label}", data=document, content_type="application/json")
    if not caller.thorough:  # whole bodies and media types: the callers that get past authentication
        return
    documents = {"list": "[]", "string": '"x"', "number": "5", "null": "null", "broken": "{",
                 "deep": "[" * 101 + "]" * 101, "very_deep": "[" * 50_000}  # fmt: skip
    for label, document in documents.items():
        send(caller, method, concrete, f"body={label}", data=document, content_type="application/json")
    for label, (content_type, raw) in OTHER_BODIES.items():
        response = send(caller, method, concrete, f"body as {label}", data=raw, content_type=content_type)
        if content_type.startswith("application/json") or response.status_code in (401, 403, 404, 415):
            continue  # the API reads JSON only: any other media type is 415, once the caller may ask at all
        send.failures.append(f"{response.status_code}, not 415: {method.upper()} {concrete} body as {label}")


def _fuzz_api(send: Recorder, callers: list[Caller], world: dict) -> int:
    schema = json.loads(send(callers[0], "get", "/api/schema/?format=json", "schema").content)
    operations = [(path, method) for path, item in schema["paths"].items() for method in item if method in METHODS]
    # The first caller tries every value; the others a sample (the same manager signed in is one of them).
    for caller in [callers[0], *(replace(caller, thorough=False) for caller in callers[1:])]:
        for path, method in operations:
            _fuzz_operation(send, caller, schema, path, method, world)
    return len(operations)


# --- Twilio webhooks (every field of the stored payloads, signed) -------------------------------------


def _fuzz_webhooks(send: Recorder, caller: Caller) -> None:
    for url, name in (
        (INBOUND_URL, "inbound_sms"),
        (STATUS_URL, "status_delivered"),
        (STATUS_URL, "status_failed_21610"),
    ):
        base = payload(name)
        fields = set(base) | {"NumSegments", "ErrorCode", "ErrorMessage", "OptOutType", "MessagingServiceSid"}
        for form_field in sorted(fields):
            for label, value in _sample(TEXT_VALUES, 6, f"{name}{form_field}"):
                if value.startswith(RAW):
                    continue
                params = {**base, form_field: value}
                send(
                    caller,
                    "post",
                    url,
                    f"{name}.{form_field}={label}",
                    data=urlencode(params),
                    content_type="application/x-www-form-urlencoded",
                    HTTP_X_TWILIO_SIGNATURE=sign(url, params),
                )


def _debug_only(route: Route) -> bool:
    """A demo tool's route (``messaging.views.demo.debug_only``): 404 with DEBUG off, as the main walk meets it."""
    return getattr(route.pattern.callback, "debug_only", False)


def test_routes_there_only_with_debug_on_are_fuzzed_with_debug_on(world, settings, capsys):
    """The main walk runs with DEBUG off, where a demo-only route is a 404: here it is live, and fuzzed,
    as a plain form post and as htmx's (which answers with the page part instead of a redirect)."""
    settings.DEBUG = True
    send = Recorder()
    htmx = Client(raise_request_exception=False, HTTP_HX_REQUEST="true")
    htmx.force_login(world["agent"])
    callers = [*_callers(world), Caller("agent-htmx", htmx, values=2, thorough=THOROUGH)]
    walked = _fuzz_urlconf(send, callers, world, only=_debug_only)
    with capsys.disabled():
        print(
            f"\nfuzz net, DEBUG on: {send.sent} requests, {walked} demo-only URL patterns; {len(send.failures)} failed"
        )
    assert walked >= 1
    assert not send.failures, "\n".join(send.failures[:80])


def test_no_route_method_field_or_parameter_answers_500_to_any_caller(world, capsys):
    send = Recorder()
    callers = _callers(world)
    manager_key = Caller("manager-api-key", Client(raise_request_exception=False,
                         HTTP_AUTHORIZATION=f"Token {world['manager_key']}"), values=2, thorough=THOROUGH)  # fmt: skip
    root_client = Client(raise_request_exception=False)
    root_client.force_login(world["root"])

    started = time.monotonic()
    route_count = _fuzz_urlconf(send, callers, world)
    send.mark("URLconf", started)
    _fuzz_admin(send, callers[0])
    _fuzz_admin(send, Caller("superuser", root_client, values=1))
    send.mark("admin registry", started)
    operation_count = _fuzz_api(send, [manager_key, *callers], world)
    send.mark("OpenAPI schema", started)
    _fuzz_webhooks(send, callers[-1])
    send.mark("webhooks", started)

    per_caller = ", ".join(f"{name} {count}" for name, count in send.by_caller.items())
    with capsys.disabled():
        print(
            f"\nfuzz net: {send.sent} requests sent ({per_caller}) over {route_count} URL patterns and "
            f"{operation_count} API operations in {time.monotonic() - started:.0f} s ({'; '.join(send.marks)}); "
            f"{len(send.failures)} failed"
        )
    assert route_count > 50 and operation_count > 30
    assert not send.failures, "\n".join(send.failures[:80])
