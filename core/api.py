"""Tenancy shared by every API view: permissions, the organization mixin, id and time filters, scoped ids."""

from __future__ import annotations

from datetime import UTC
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django import forms
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated

from .tenancy import organization_for_user

if TYPE_CHECKING:
    from interactions.models import Organization


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


class OrganizationAPIMixin:
    """Resolves the caller's organization once and hands it to serializers."""

    permission_classes = [IsAuthenticated, IsOrganizationMember]
    parser_classes = [JSONParser]

    @cached_property
    def organization(self) -> Organization | None:
        return organization_for_user(self.request.user)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "organization": self.organization}


class IdFormField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)  # PostgreSQL bigint: larger ids would be a database error
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    field_class = IdFormField


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


class OrganizationScopedField(serializers.PrimaryKeyRelatedField):
    """The id of a row of the caller's organization; any other id is "does not exist"."""

    def __init__(self, model, **kwargs):
        self.model = model
        self.select_related = kwargs.pop("select_related", ())
        super().__init__(queryset=model.objects.none(), **kwargs)

    def get_queryset(self):
        organization = self.context["organization"]
        return self.model.objects.filter(organization=organization).select_related(*self.select_related)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        instance = super().to_internal_value(data)
        # The organization is known (the queryset is scoped to it): hand it over instead of a join.
        instance.organization = self.context["organization"]
        return instance
