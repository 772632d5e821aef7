"""How the REST API refuses: one JSON shape for every error, and that shape in the OpenAPI schema.

Every error body is ``{"code": "<stable code>", "detail": "<a sentence a person can act on>"}``;
validation errors add ``field`` (the first input at fault) and ``errors`` (every field → its
messages); service refusals add what they know (``next_allowed_at`` for quiet hours,
``opted_out_at``, ``retry_after``…).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ServiceError


def service_error_body(exc: ServiceError) -> dict[str, Any]:
    body = exc.as_dict()
    if exc.field:
        body["errors"] = {exc.field: [exc.message]}
    return body


def service_error_response(exc: ServiceError) -> Response:
    response = Response(service_error_body(exc), status=exc.status)
    if "retry_after" in exc.extra:
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


def _first_error(errors: Any, path: str = "") -> tuple[str, str]:
    """The first (field path, message) in DRF's nested error structure, e.g. ``phone_numbers[1].number``."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if value:
                name = str(key) if key != api_settings.NON_FIELD_ERRORS_KEY else ""
                if name.isdigit():  # DRF keys a list's item errors by index
                    return _first_error(value, f"{path}[{name}]")
                return _first_error(value, f"{path}.{name}" if path and name else (name or path))
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if isinstance(value, dict | list):
                if value:
                    return _first_error(value, f"{path}[{index}]")
            else:
                return path, str(value)
    return path, str(errors)


def validation_error_body(errors: Any) -> dict[str, Any]:
    if not isinstance(errors, dict):
        errors = {api_settings.NON_FIELD_ERRORS_KEY: errors if isinstance(errors, list) else [errors]}
    field, message = _first_error(errors)
    body: dict[str, Any] = {"code": "invalid", "detail": f"{field}: {message}" if field else message}
    if field:
        body["field"] = field
    body["errors"] = errors
    return body


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus ``ServiceError`` → its status, and every body in the one error shape."""
    if isinstance(exc, ServiceError):
        return service_error_response(exc)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=get_error_detail(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 page and the error log
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_error_body(response.data)
        return response
    detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    body: dict[str, Any] = {"code": code, "detail": str(detail)}
    if isinstance(exc, exceptions.NotFound | Http404):
        body = {"code": "not_found", "detail": "Not found: nothing with this id in your organization."}
        if "page" in str(detail).lower():
            body = {"code": "invalid_page", "detail": "That page does not exist; follow the next/previous links."}
    if isinstance(exc, exceptions.Throttled):
        body["detail"] = "Too many requests for this token. Wait and retry; Retry-After says how many seconds."
        wait = exc.wait  # type: ignore[attr-defined]  # set by Throttled.__init__; the stubs leave it out
        if wait is not None:
            body["retry_after"] = math.ceil(wait)
    response.data = body
    return response


# --- OpenAPI ------------------------------------------------------------------------------

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag you read: if the object changed since, the answer is 412 and nothing changes.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The ETag you hold: if the object is unchanged, the answer is 304 with no body.",
)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique value per change you mean to make (a UUID). Retrying with the same key and the same body "
        "within 24 hours returns the first response and does nothing again; the same key with a different "
        "body answers 422; while the first request is still running, 409 (retry in a second). Replayed "
        "responses carry `Idempotent-Replayed: true`. Only served requests are remembered: after invalid "
        "input the key may be used again."
    ),
)


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable and machine-readable: invalid, not_found, no_consent, opted_out, quiet_hours, frequency_cap, "
        "too_long, idempotency_key_reused, idempotency_key_in_flight, not_authenticated, throttled…"
    )
    detail = serializers.CharField(help_text="What went wrong, in a sentence a person can act on.")
    field = serializers.CharField(required=False, help_text="The input at fault, e.g. `phone_numbers[1].number`.")
    # The error body's own name, shadowing ``Serializer.errors``: this serializer only describes the schema.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(), required=False, help_text="Every field at fault → its messages."
    )
    next_allowed_at = serializers.DateTimeField(
        required=False, help_text="quiet_hours, frequency_cap: the next time this person may be texted."
    )
    jurisdiction = serializers.CharField(
        required=False,
        help_text="quiet_hours, frequency_cap: whose rule refused: US (federal), FL, OK, MD, CT, TX, or ORG "
        "(the organization's own).",
    )
    opted_out_at = serializers.DateTimeField(required=False, help_text="opted_out: when the person opted out.")
    retry_after = serializers.IntegerField(required=False, help_text="Seconds to wait before retrying.")


ERROR_DESCRIPTIONS = {
    400: "Invalid input or a refusal; `code` says which, `field` names the input at fault.",
    401: "No token, or an invalid one: send `Authorization: Token <key>`.",
    403: "Signed in, but not allowed: no organization membership, or a manager-only change.",
    404: "Nothing with this id in your organization (another organization's ids answer 404 too).",
    409: "Conflicts with the current state.",
    412: "If-Match no longer matches: the object changed since you read it. Read it again and retry.",
    415: "Send the body as application/json.",
    422: "The Idempotency-Key was already used for a different request.",
    429: "Rate limit for this token reached; see the Retry-After header.",
}


def error_response(status: int, description: str | None = None) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS[status])


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {status: error_response(status) for status in statuses}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error responses every authenticated operation can give."""

    def _common_error_statuses(self) -> list[int]:
        statuses = []
        if self.view.authentication_classes and any(
            getattr(p, "__name__", "") != "AllowAny" for p in self.view.permission_classes
        ):
            statuses += [401, 403]
        if self.view.throttle_classes:
            statuses.append(429)
        if "{" in self.path or (self.method == "GET" and self._is_list_view()):
            statuses.append(404)  # an id not in your organization, or a page past the end
        if self.method in ("POST", "PUT", "PATCH"):
            statuses += [400, 415]
        if self.method in ("POST", "PATCH"):
            statuses += [409, 422]  # Idempotency-Key: still in flight; used for a different request
        if self._versioned() and self.method in ("PUT", "PATCH", "DELETE", "POST"):
            statuses.append(412)  # If-Match no longer matches
        elif self.method == "GET" and self._is_list_view():
            statuses.append(400)  # a filter value that does not parse
        return statuses

    def _versioned(self) -> bool:
        from .api import VersionedObjectsMixin

        return isinstance(self.view, VersionedObjectsMixin) and "{" in self.path

    def get_override_parameters(self) -> list:
        """Every POST and PATCH takes ``Idempotency-Key`` (core/idempotency.py); versioned objects
        take ``If-Match`` on writes and ``If-None-Match`` on reads (core/api.py)."""
        parameters = list(super().get_override_parameters())
        named = {getattr(p, "name", None) for p in parameters}
        if self.method in ("POST", "PATCH") and "Idempotency-Key" not in named:
            parameters.append(IDEMPOTENCY_KEY)
        if self._versioned():
            parameters.append(IF_NONE_MATCH if self.method == "GET" else IF_MATCH)
        return parameters

    def _get_response_bodies(self, direction: Literal["request", "response"] = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status in self._common_error_statuses():
            responses.setdefault(
                str(status), self._get_response_for_code(error_response(status), str(status), direction=direction)
            )
        return dict(sorted(responses.items()))
