"""One guard for input nothing can store: NUL characters, lone surrogates, over-deep JSON, broken
multipart bodies and addresses too long to serve.

PostgreSQL refuses a NUL character in text and a lone surrogate can't be encoded as UTF-8, so
either one, anywhere a view passes it on (a search box, a form field, a JSON value, a cookie),
used to surface as a 500. Python's JSON parser recurses once per nesting level, so 50,000 ``[``
exhausted the stack. This middleware answers all of them with a 400 that names the field, before
any view runs. Twilio's webhooks are left to their views: they strip what they can't store and
answer 2xx, since a 4xx only makes Twilio retry a payload that will never change.

Under ``/api/`` every refusal is JSON in the API's error shape (``core.api_errors``), a 414 for an
address over ``MAX_URI_LENGTH`` included: gunicorn's own limit (``limit_request_line`` in
``config/gunicorn.conf.py``) is set above it, so gunicorn's HTML 414 is never what a client sees.
The API only takes JSON, so a form or multipart body there is not read at all: DRF answers 415
(reading it here would hand DRF an exhausted stream and a misleading "field required").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.html import escape

MAX_JSON_DEPTH = 100
# Longer request lines (path and query) answer 414; gunicorn's limit_request_line is above this.
MAX_URI_LENGTH = 4096
API_PREFIX = "/api/"
WEBHOOK_PREFIX = "/webhooks/"
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def text_problem(value: str) -> str | None:
    """Why ``value`` can't be stored as text, or ``None`` when it can."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000), which can't be stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an invalid character (a lone UTF-16 surrogate), which can't be stored"
    return None


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON document, counted without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def _json_problem(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, str):
        reason = text_problem(value)
        return (path or "body", reason) if reason else None
    if isinstance(value, dict):
        for key, item in value.items():
            field = f"{path}.{key}" if path else str(key)
            if reason := text_problem(key):
                return path or "body", f"has a key that {reason}"
            if problem := _json_problem(item, field):
                return problem
    if isinstance(value, list):
        for index, item in enumerate(value):
            if problem := _json_problem(item, f"{path}[{index}]"):
                return problem
    return None


def _pairs_problem(pairs: Iterable[tuple[str, list[str]]], where: str) -> tuple[str, str] | None:
    for key, values in pairs:
        if reason := text_problem(key):
            return f"{where} parameter name", reason
        for value in values:
            if isinstance(value, str) and (reason := text_problem(value)):
                return key, reason
    return None


def request_input_problem(request: HttpRequest) -> tuple[str, str] | None:
    """The first (field, reason) of the request that can't be stored, or ``None``."""
    return _address_problem(request) or _body_problem(request)


def _address_problem(request: HttpRequest) -> tuple[str, str] | None:
    """In what every request carries: the path, the query, the cookies and the headers."""
    if reason := text_problem(request.path_info):
        return "path", reason
    if problem := _pairs_problem(request.GET.lists(), "query"):
        return problem
    if problem := _pairs_problem(((k, [v]) for k, v in request.COOKIES.items()), "cookie"):
        return problem
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and (reason := text_problem(value)):
            return key[5:].replace("_", "-").title() + " header", reason
    return None


def _body_problem(request: HttpRequest) -> tuple[str, str] | None:
    """In a posted JSON or form body (a webhook's is left to its view: see the module's docstring)."""
    if request.method not in ("POST", "PUT", "PATCH") or request.path_info.startswith(WEBHOOK_PREFIX):
        return None
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        return _json_body_problem(request.body)
    if content_type in FORM_CONTENT_TYPES and not request.path_info.startswith(API_PREFIX):
        try:
            return _pairs_problem(request.POST.lists(), "form")
        except MultiPartParserError as exc:
            return "body", f"is not valid multipart/form-data ({exc})"
    return None


def _json_body_problem(raw: bytes) -> tuple[str, str] | None:
    if json_depth(raw) > MAX_JSON_DEPTH:
        return "body", f"is JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None  # not JSON at all: the API's parser says so (400) in its own words
    return _json_problem(data, "")


class InputGuardMiddleware:
    """Refuse, with a 400 naming the field, input that no view could store (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (length := uri_length(request)) > MAX_URI_LENGTH:
            detail = f"The address is {length} characters long; at most {MAX_URI_LENGTH} are served."
            return _refusal(request, 414, "uri_too_long", detail, "Address too long")
        problem = request_input_problem(request)
        if problem is None:
            return self.get_response(request)
        field, reason = problem
        return _refusal(request, 400, "invalid", f"{field}: {reason}.", "Bad request", field=field, reason=reason)


def uri_length(request: HttpRequest) -> int:
    """The request line's address as sent: the path and, when there is one, ``?`` and the query."""
    query = request.META.get("QUERY_STRING", "")
    return len(request.META.get("PATH_INFO", "")) + (len(query) + 1 if query else 0)


def _refusal(
    request: HttpRequest, status: int, code: str, detail: str, title: str, *, field: str = "", reason: str = ""
) -> HttpResponse:
    """The API's JSON error shape under ``/api/``, a short HTML page elsewhere."""
    if request.path_info.startswith(API_PREFIX):
        body: dict[str, Any] = {"code": code, "detail": detail}
        if field:
            body.update(field=field, errors={field: [reason]})
        return JsonResponse(body, status=status)
    return HttpResponse(
        f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{escape(detail)}</p>"
        "<p>Go back, correct the field and try again.</p>",
        status=status,
    )
