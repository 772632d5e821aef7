"""Tenancy shared by every API view: permissions, the organization mixin, id and time filters, scoped ids."""

from __future__ import annotations

import base64
import hashlib
import json
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Q
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.filters import BaseFilterBackend, OrderingFilter
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from . import idempotency, replica
from .errors import ServiceError
from .fastsql import Joined
from .parsing import strict_id, strict_int
from .tenancy import organization_for_user

if TYPE_CHECKING:
    from rest_framework.generics import GenericAPIView

    from interactions.models import Organization

    _APIViewMixin = GenericAPIView  # what the mixin is mixed into, for type checkers
else:
    _APIViewMixin = object


class IsOrganizationMember(BasePermission):
    message = "Your account is not part of an organization yet. Ask a manager to add you."
    code = "no_organization"

    def has_permission(self, request, view) -> bool:
        return organization_for_user(request.user) is not None


def _is_manager(user) -> bool:
    membership = getattr(user, "membership", None) if user.is_authenticated else None
    return membership is not None and membership.is_manager


class IsManagerOrReadOnly(BasePermission):
    message = "Only managers can create or change this. Ask a manager of your organization."
    code = "manager_required"

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or _is_manager(request.user)


class IsManager(BasePermission):
    message = "Only managers can see or change this. Ask a manager of your organization."
    code = "manager_required"

    def has_permission(self, request, view) -> bool:
        return _is_manager(request.user)


class OrganizationAPIMixin(_APIViewMixin):
    """Resolves the caller's organization once and hands it to serializers; makes every POST and
    PATCH safe to retry with ``Idempotency-Key`` (core/idempotency.py)."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]
    parser_classes = [JSONParser]
    # Actions that keep their own Idempotency-Key handling (POST /api/v1/messages/: in the database,
    # committed with the text).
    own_idempotency: frozenset[str] = frozenset()
    # Actions whose reads may be seconds behind: with a replica configured they read it, unless the
    # caller just wrote (core/replica.py). Authentication and permissions read the primary first.
    # A viewset's action name; a plain APIView's HTTP method ("get").
    replica_actions: frozenset[str] = frozenset({"list"})

    def dispatch(self, request, *args: Any, **kwargs: Any):
        with ExitStack() as self._scopes:  # what initial() enters ends with the request, however it ends
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authenticated, permitted, within the rate limit
        scopes: ExitStack | None = getattr(self, "_scopes", None)
        if scopes is not None and (getattr(self, "action", None) or request.method.lower()) in self.replica_actions:
            scopes.enter_context(replica.replica_ok())
        self._idempotency: tuple[str, str] | None = None
        self._idempotent_refusal = False
        key = request.headers.get("Idempotency-Key")
        if key is None or request.method not in idempotency.METHODS or self.organization is None:
            return
        if getattr(self, "action", None) in self.own_idempotency:
            return
        fingerprint = idempotency.fingerprint(method=request.method, path=request.path, data=request.data)
        claimed = idempotency.claim(organization_id=self.organization.pk, key=key, request_fingerprint=fingerprint)
        self._idempotency = (claimed, fingerprint)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, idempotency.Replay):
            response = Response(exc.stored.body, status=exc.stored.status, headers=exc.stored.headers)
            response["Idempotent-Replayed"] = "true"
            return response
        if isinstance(exc, ServiceError) and exc.status < 500 and exc.status not in (409, 422, 429):
            self._idempotent_refusal = True  # a refusal of the domain is this request's outcome: replayed too
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args: Any, **kwargs: Any):
        response = super().finalize_response(request, response, *args, **kwargs)
        held, self._idempotency = getattr(self, "_idempotency", None), None
        if held is None:
            return response
        claimed, fingerprint = held
        if 200 <= response.status_code < 300 or getattr(self, "_idempotent_refusal", False):
            body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
            headers = {name: response[name] for name in ("Location",) if name in response}
            stored = idempotency.StoredResponse(status=response.status_code, body=body, headers=headers)
            idempotency.complete(cache_key=claimed, request_fingerprint=fingerprint, stored=stored)
        else:
            idempotency.release(cache_key=claimed)
        return response

    @cached_property
    def organization(self) -> Organization | None:
        return organization_for_user(self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "organization": self.organization}


class PreconditionFailed(APIException):
    status_code = 412
    default_code = "precondition_failed"
    default_detail = "This object changed since you read it: read it again (its new ETag) and retry."


def object_etag(label: str, pk: Any, updated_at: str) -> str:
    """An object's version as a strong ETag: its identity and ``updated_at`` as the API shows it."""
    return '"' + hashlib.sha256(f"{label}:{pk}:{updated_at}".encode()).hexdigest()[:24] + '"'


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


class VersionedObjectsMixin(_APIViewMixin):
    """``ETag`` on each object the API answers with (its ``updated_at``), conditional requests on it:

    - ``If-Match`` on a write to an object (PUT, PATCH, DELETE, a POST action on it) that no longer
      matches answers 412 ``precondition_failed`` and changes nothing (a lost update caught);
      ``If-Match: *`` matches any version;
    - ``If-None-Match`` on a read that still matches answers 304 with no body.
    """

    def _etag_of(self, pk: Any, updated_at: Any) -> str:
        shown = updated_at if isinstance(updated_at, str) else serializers.DateTimeField().to_representation(updated_at)
        return object_etag(self.get_queryset().model._meta.label, pk, shown)

    def get_object(self):
        obj = super().get_object()
        condition = self.request.headers.get("If-Match")
        if condition is not None and self.request.method not in SAFE_METHODS:
            wanted = _etags(condition)
            if "*" not in wanted and self._etag_of(obj.pk, obj.updated_at) not in wanted:
                raise PreconditionFailed()
        return obj

    def finalize_response(self, request, response, *args: Any, **kwargs: Any):
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        if response.status_code in (200, 201) and isinstance(data, dict) and {"id", "updated_at"} <= data.keys():
            etag = self._etag_of(data["id"], data["updated_at"])
            response["ETag"] = etag
            if request.method in ("GET", "HEAD") and etag in _etags(request.headers.get("If-None-Match", "")):
                not_modified = Response(status=304, headers={"ETag": etag})
                return super().finalize_response(request, not_modified, *args, **kwargs)
        return response


class IdFormField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)  # PostgreSQL bigint: larger ids would be a database error
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    field_class = IdFormField


class StrictBooleanFormField(forms.Field):
    """``true``/``false`` (or ``1``/``0``); anything else is an error, where django-filter's
    ``BooleanFilter`` reads it as "no filter" and answers the whole list."""

    TRUE, FALSE = frozenset({"true", "1", "True"}), frozenset({"false", "0", "False"})

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in self.TRUE:
            return True
        if value in self.FALSE:
            return False
        raise forms.ValidationError("Give true or false.", code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanFormField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The raw text reaches the field: django-filter's BooleanWidget turns what it can't read into "no filter".
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


class UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            # PostgreSQL refuses odd offsets (-22:54); in UTC any representable time is fine.
            return value.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError("Give a date and time between the years 1 and 9999.", code="invalid") from exc


class SinceFilter(filters.IsoDateTimeFilter):
    """``updated_since``: rows changed at or after this time (ISO 8601)."""

    field_class = UtcDateTimeField

    def __init__(self, **kwargs):
        kwargs.setdefault("field_name", "updated_at")
        kwargs.setdefault("lookup_expr", "gte")
        kwargs.setdefault("help_text", "Changed at or after this time (ISO 8601, e.g. 2030-05-01T00:00:00Z).")
        super().__init__(**kwargs)


# --- serializers ----------------------------------------------------------------------------


class StrictStringMixin:
    """Text fields take JSON strings only: DRF's own turn ``0`` or ``1.5`` into ``"0"``, ``"1.5"``.

    ``{"evidence": 0}`` was stored as proof of consent; the schema says ``string``, so a number,
    a boolean or a list answers 400 ("Not a valid string.") like any other wrong type.
    """

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]  # a Field method: mixed into DRF's string fields
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(StrictStringMixin, serializers.CharField):
    pass


class StrictEmailField(StrictStringMixin, serializers.EmailField):
    pass


class StrictURLField(StrictStringMixin, serializers.URLField):
    pass


class StrictSlugField(StrictStringMixin, serializers.SlugField):
    pass


class ModelSerializer(serializers.ModelSerializer):
    """DRF's, with the strict text fields for the models' text columns (every API serializer's base)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.URLField: StrictURLField,
        models.SlugField: StrictSlugField,
    }


class OrganizationScopedField(serializers.PrimaryKeyRelatedField):
    """The id of a row of the caller's organization; any other id is "does not exist"."""

    _reads: dict[tuple, Joined] = {}
    # DRF wants a queryset at construction and copies every field for every request's serializer;
    # ``get_queryset`` is what is read, so one empty queryset per model, never evaluated, serves them all.
    _unused: dict[type, Any] = {}

    def __init__(self, model, **kwargs):
        self.model = model
        self.select_related = kwargs.pop("select_related", ())
        unused = self._unused.get(model)
        if unused is None:
            unused = self._unused[model] = model.objects.none()
        super().__init__(queryset=unused, **kwargs)

    def get_queryset(self):
        organization = self.context["organization"]
        return self.model.objects.filter(organization=organization).select_related(*self.select_related)

    def _lookup(self) -> Joined:
        # The same read for every request of this shape: plain SQL, written once per model and joins
        # (core/fastsql.py).
        shape = (self.model, tuple(self.select_related))
        if shape not in self._reads:
            self._reads[shape] = Joined(self.model, *self.select_related)
        return self._reads[shape]

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        try:
            instance = self._lookup().get(organization_id=self.context["organization"].pk, pk=data)
        except self.model.DoesNotExist:
            self.fail("does_not_exist", pk_value=data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        # The organization is known (the queryset is scoped to it): hand it over instead of a join.
        instance.organization = self.context["organization"]
        return instance


# --- lists: known parameters, ordering, cursor pagination (docs/ARCHITECTURE.md rule 11) ---------

# Query parameters every list understands besides its filters.
LIST_PARAMETERS = frozenset({"cursor", "page", "page_size", "ordering", "format", "count"})


class KnownQueryParameters(BaseFilterBackend):
    """An unknown query parameter answers 400 naming it: a typo must not return the whole table."""

    def filter_queryset(self, request, queryset, view):
        known = set(LIST_PARAMETERS) | set(getattr(view, "extra_query_parameters", ()))
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: [f"Unknown query parameter “{unknown[0]}”. Known here: {', '.join(sorted(known))}."]}
            )
        # django-filter skips an empty value, so ``?updated_since=`` would answer the whole list
        # where the schema (a date-time) says it is invalid: give a value or leave the filter out.
        filters_given = set(request.query_params) & set(filterset_class.base_filters if filterset_class else ())
        empty = sorted(name for name in filters_given if not any(request.query_params.getlist(name)))
        if empty:
            raise serializers.ValidationError({empty[0]: ["Give a value, or leave this filter out."]})
        return queryset


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=updated_at`` (or ``-updated_at``…) on the fields a list documents; any other answers 400."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",") if param.strip()]
            valid = {name for name, _ in self.get_valid_fields(queryset, view, {"request": request})}
            wrong = [field for field in fields if field.lstrip("-") not in valid]
            if wrong:
                raise serializers.ValidationError(
                    {self.ordering_param: [f"Can’t order by “{wrong[0]}”. Choose one of: {', '.join(sorted(valid))}."]}
                )
        return super().get_ordering(request, queryset, view)


class StrictPageSize:
    """``?page_size=`` from 1 to ``max_page_size``, as the schema says; anything else answers 400.

    DRF's own reading silently falls back (``-5``) or clamps (``100000``): a client would page on
    with a size it never asked for.
    """

    page_size: int | None
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request) -> int | None:
        given = request.query_params.getlist(self.page_size_query_param)
        if not given:
            return self.page_size
        size = strict_int(given[0], minimum=1, maximum=self.max_page_size) if len(given) == 1 else None
        if size is None:
            message = f"Give a whole number from 1 to {self.max_page_size} (written in digits 0-9)."
            raise serializers.ValidationError({self.page_size_query_param: [message]})
        return size


class SyncPagination(StrictPageSize, CursorPagination):
    """Cursor pagination for every list: ``?cursor=`` pages stay right while rows are written.

    A cursor is a keyset position: the last row's (ordering value, id). The next page is the rows
    after that pair, so a row added or changed meanwhile (its ``updated_at`` moves past the
    position) lands after it and is read again, and none is skipped; DRF's own cursor counts an
    offset among equal values, which a change in between shifts. ``?page_size=`` up to
    ``max_page_size``. ``?page=N`` (the page numbers of the first release) still works during the
    deprecation period, with a ``Deprecation`` header.

    A page reads ``page_size + 1`` rows through the index of its ordering (``message_org_id``,
    ``lead_org_updated``…) and nothing else: no ``COUNT(*)``, which reads every matching row and
    grew with the table on every page. ``count`` (rows matching the filters) is in the answer only
    when asked for with ``?count=1`` (and in the deprecated ``?page=N`` pages).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "id"
    invalid_cursor_message = "This cursor is not valid: follow the next and previous links as given."
    count_query_param = "count"

    def __init__(self):
        self.legacy: PageNumberPagination | None = None
        self.count: int | None = None
        self.next_position = self.previous_position = None

    def get_ordering(self, request, queryset, view):
        ordering = tuple(super().get_ordering(request, queryset, view))[:1]
        if ordering[0].lstrip("-") != "id":  # ties (equal updated_at) are ordered by id: the key is unique
            ordering += ("-id" if ordering[0].startswith("-") else "id",)
        return ordering

    def _decode(self, request, field) -> tuple[Any, int, bool] | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        invalid = serializers.ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})
        try:
            data = json.loads(base64.urlsafe_b64decode(encoded.encode()).decode())
            value, pk, reverse = data["v"], strict_id(data["i"]), data["r"]
            # Every part is checked here, the ordering value too: a crafted cursor ({"v": "abc"} while
            # ordering by id) used to reach the database and answer 500.
            value = strict_id(value) if field.name == "id" else field.to_python(value)
            if isinstance(value, datetime):  # as written by _encode: with an offset, in the years 1-9999 in UTC
                value = value.astimezone(UTC) if value.tzinfo is not None else None
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError, DjangoValidationError) as exc:
            raise invalid from exc
        if value is None or pk is None or not isinstance(reverse, bool):
            raise invalid
        return value, pk, reverse

    def _encode(self, row, *, reverse: bool) -> str:
        value = getattr(row, self.field_name)
        data = {"v": value.isoformat() if hasattr(value, "isoformat") else value, "i": row.pk, "r": reverse}
        cursor = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)

    def paginate_queryset(self, queryset, request, view=None):
        if "page" in request.query_params:
            self.legacy = LegacyPageNumberPagination()
            return self.legacy.paginate_queryset(queryset, request, view)
        self.request, self.base_url = request, request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        ordering = self.get_ordering(request, queryset, view)
        self.field_name = ordering[0].lstrip("-")
        descending = ordering[0].startswith("-")
        field = queryset.model._meta.get_field(self.field_name)
        position = self._decode(request, field)
        if self.count_query_param in request.query_params:
            asked = request.query_params.getlist(self.count_query_param)
            if len(asked) != 1 or asked[0] not in ("1", "true"):
                message = "Give count=1 to have the rows matching the filters counted, or leave it out."
                raise serializers.ValidationError({self.count_query_param: [message]})
            self.count = queryset.count()
        reverse = position is not None and position[2]
        if position is not None:
            value, pk, _ = position
            after = descending == reverse  # which side of the position this page lies on, in value order
            op = "gt" if after else "lt"
            if self.field_name == "id":
                queryset = queryset.filter(**{f"pk__{op}": value})
            else:
                queryset = queryset.filter(
                    Q(**{f"{self.field_name}__{op}": value}) | Q(**{self.field_name: value, f"pk__{op}": pk})
                )
        flip = [term[1:] if term.startswith("-") else f"-{term}" for term in ordering]
        rows = list(queryset.order_by(*(flip if reverse else ordering))[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
        has_next = more if not reverse else True
        has_previous = (position is not None) if not reverse else more
        self.next_position = self._encode(rows[-1], reverse=False) if rows and has_next else None
        self.previous_position = self._encode(rows[0], reverse=True) if rows and has_previous else None
        return rows

    def get_next_link(self):
        return self.next_position

    def get_previous_link(self):
        return self.previous_position

    def get_paginated_response(self, data):
        if self.legacy is not None:
            response = self.legacy.get_paginated_response(data)
            response["Deprecation"] = "true"
            return response
        counted = {} if self.count is None else {"count": self.count}
        return Response({**counted, "next": self.get_next_link(), "previous": self.get_previous_link(),
                         "results": data})  # fmt: skip

    def get_paginated_response_schema(self, schema):
        wrapped = super().get_paginated_response_schema(schema)
        wrapped["properties"] = {
            "count": {
                "type": "integer",
                "example": 123,
                "description": "Rows matching the filters: only with `?count=1` (it reads every matching row).",
            },
            **wrapped["properties"],
        }
        return wrapped

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
        parameters.append(
            {
                "name": self.count_query_param,
                "required": False,
                "in": "query",
                "description": "`1`: add `count`, the rows matching the filters (it reads all of them; pages "
                "do not need it: follow `next` until it is null).",
                "schema": {"type": "string", "enum": ["1", "true"]},
            }
        )
        return parameters


class LegacyPageNumberPagination(StrictPageSize, PageNumberPagination):
    """``?page=N``: deprecated, kept until clients moved to the cursor (README "API", "Pagination")."""

    page_size = SyncPagination.page_size
    page_size_query_param = "page_size"
    max_page_size = SyncPagination.max_page_size
