"""REST API (``/api/v1/``) for leads, customers, phone numbers and consent.

Views parse input, call the same services the web UI calls, and render. Every queryset is
scoped to the caller's organization, so another organization's id answers 404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import IdFilter, OrganizationAPIMixin, SinceFilter, VersionedObjectsMixin
from core.api_errors import error_responses
from core.http import request_evidence

from .evidence import consent_evidence_csv_response
from .models import ConsentEvent, Customer, Lead, Organization, PhoneNumber
from .selectors import (
    consent_events_after,
    consent_history,
    consents_by_number,
    customers_with_numbers,
    leads_with_numbers,
    phone_numbers_for,
)
from .serializers import (
    CUSTOMER_STATUSES,
    ConsentFeedQuerySerializer,
    ConsentFeedSerializer,
    ConsentQuerySerializer,
    ConsentRequestSerializer,
    ConsentStateSerializer,
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    LeadCreateSerializer,
    LeadSerializer,
    LeadUpdateSerializer,
    PhoneNumberCreateSerializer,
    PhoneNumberDetailSerializer,
)
from .services import (
    NewNumber,
    consent_grant,
    consent_revoke,
    consent_status,
    customer_create,
    customer_update,
    lead_create,
    lead_update,
    phone_number_add,
    phone_number_delete,
    phone_number_parse,
    phone_number_set_primary,
)


def _consents_for(organization: Organization, people: list[Lead | Customer]) -> dict:
    """Consent of every number on a page of people, in one query (no N+1)."""
    numbers = [number for person in people for number in person.phone_numbers.all()]
    return consents_by_number(organization=organization, numbers=numbers)


# --- leads and customers -------------------------------------------------------------------


class LeadFilter(filters.FilterSet):
    facility = IdFilter(field_name="facility_id", help_text="Only this facility's leads.")
    status = filters.ChoiceFilter(choices=Lead.Status.choices)
    updated_since = SinceFilter()

    class Meta:
        model = Lead
        fields = ["facility", "status", "updated_since"]


class CustomerFilter(filters.FilterSet):
    facility = IdFilter(field_name="facility_id", help_text="Only this facility's customers.")
    status = filters.ChoiceFilter(choices=CUSTOMER_STATUSES, method="filter_status")
    updated_since = SinceFilter()

    class Meta:
        model = Customer
        fields = ["facility", "status", "updated_since"]

    def filter_status(self, queryset: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        return queryset.filter(balance_due__gt=0) if value == "balance_due" else queryset.filter(balance_due__lte=0)


class PersonViewSet(VersionedObjectsMixin, OrganizationAPIMixin, viewsets.GenericViewSet):
    # List, create, read and update (no delete); numbers are rendered with their consent.

    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    ordering_fields = ["id", "updated_at", "created_at"]
    ordering = ["id"]
    create_serializer_class: type
    update_serializer_class: type

    def create_person(self, *, numbers: list[NewNumber], **fields) -> Lead | Customer:
        raise NotImplementedError

    def update_person(self, person, **changes) -> Lead | Customer:
        raise NotImplementedError

    def render(self, people: list[Lead | Customer]) -> list[dict]:
        context = {**self.get_serializer_context(), "consents": _consents_for(self.organization, people)}
        return self.get_serializer_class()(people, many=True, context=context).data

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.render(page))

    def retrieve(self, request, *args, **kwargs):
        return Response(self.render([self.get_object()])[0])

    def create(self, request, *args, **kwargs):
        serializer = self.create_serializer_class(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        numbers = [NewNumber(**number) for number in fields.pop("phone_numbers", [])]
        person = self.create_person(numbers=numbers, **fields)
        return Response(self.render([self.get_queryset().get(pk=person.pk)])[0], status=status.HTTP_201_CREATED)

    def update(self, request, *args, partial: bool = False, **kwargs):
        person = self.get_object()
        if isinstance(request.data, dict) and "phone_numbers" in request.data:
            raise ValidationError(
                {"phone_numbers": ["Numbers change through /api/v1/phone-numbers/ (add, set primary, delete)."]}
            )
        serializer = self.update_serializer_class(
            person, data=request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        self.update_person(person, **serializer.validated_data)
        return Response(self.render([self.get_queryset().get(pk=person.pk)])[0])

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)


def _person_schema(name: str, serializer, create_serializer, update_serializer, example: dict):
    return extend_schema_view(
        list=extend_schema(summary=f"List {name}s", description=f"{name.capitalize()}s of your organization."),
        retrieve=extend_schema(summary=f"Read a {name}"),
        create=extend_schema(
            summary=f"Create a {name}",
            description=f"Create a {name}, optionally with its phone numbers, in one call (all or nothing).",
            request=create_serializer,
            responses={201: serializer},
            examples=[OpenApiExample(f"A {name} with two numbers", value=example, request_only=True)],
        ),
        update=extend_schema(summary=f"Replace a {name}'s details", request=update_serializer, responses=serializer),
        partial_update=extend_schema(
            summary=f"Change some of a {name}'s details", request=update_serializer, responses=serializer
        ),
    )


_TWO_NUMBERS = [
    {"number": "+15125550142", "label": "mobile", "is_primary": True},
    {"number": "+15125550143", "label": "home"},
]


@_person_schema(
    "lead",
    LeadSerializer,
    LeadCreateSerializer,
    LeadUpdateSerializer,
    {"facility": 1, "first_name": "Maria", "last_name": "Lopez", "source": "web", "phone_numbers": _TWO_NUMBERS},
)
class LeadViewSet(PersonViewSet):
    serializer_class = LeadSerializer
    create_serializer_class = LeadCreateSerializer
    update_serializer_class = LeadUpdateSerializer
    filterset_class = LeadFilter

    def get_queryset(self) -> QuerySet[Lead]:
        return leads_with_numbers(organization=self.organization)

    def create_person(self, *, numbers, **fields) -> Lead:
        return lead_create(organization=self.organization, numbers=numbers, **fields)

    def update_person(self, person, **changes) -> Lead:
        return lead_update(lead=person, **changes)


@_person_schema(
    "customer",
    CustomerSerializer,
    CustomerCreateSerializer,
    CustomerUpdateSerializer,
    {"facility": 1, "pms_id": "T-1042", "first_name": "James", "last_name": "Chen", "unit": "B204",
     "phone_numbers": _TWO_NUMBERS},
)  # fmt: skip
class CustomerViewSet(PersonViewSet):
    serializer_class = CustomerSerializer
    create_serializer_class = CustomerCreateSerializer
    update_serializer_class = CustomerUpdateSerializer
    filterset_class = CustomerFilter

    def get_queryset(self) -> QuerySet[Customer]:
        return customers_with_numbers(organization=self.organization)

    def create_person(self, *, numbers, **fields) -> Customer:
        return customer_create(organization=self.organization, numbers=numbers, **fields)

    def update_person(self, person, **changes) -> Customer:
        return customer_update(customer=person, **changes)


# --- phone numbers -------------------------------------------------------------------------


class PhoneNumberFilter(filters.FilterSet):
    lead = IdFilter(field_name="lead_id", help_text="Only this lead's numbers.")
    customer = IdFilter(field_name="customer_id", help_text="Only this customer's numbers.")
    updated_since = SinceFilter(help_text="Changed (or their consent changed) at or after this time (ISO 8601).")

    class Meta:
        model = PhoneNumber
        fields = ["lead", "customer", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List phone numbers", description="Saved numbers with their consent."),
    retrieve=extend_schema(summary="Read a phone number"),
    create=extend_schema(
        summary="Add a number to a lead or customer",
        description="Numbers added through the API are `local` (never sent to the PMS). "
        "The first number of a record becomes primary.",
        request=PhoneNumberCreateSerializer,
        responses={201: PhoneNumberDetailSerializer},
    ),
    destroy=extend_schema(
        summary="Delete a local number",
        description="Numbers from the PMS (`source: pms`) can't be deleted here (400, code `pms_number`), nor "
        "numbers that texts or history name (400, code `number_in_use`: they stay on the record as evidence). "
        "If the deleted number was primary, the oldest remaining one becomes primary.",
        responses={204: None, **error_responses(400)},
    ),
    set_primary=extend_schema(summary="Make a number its record's primary number", request=None),
)
class PhoneNumberViewSet(
    VersionedObjectsMixin,
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PhoneNumberDetailSerializer
    filterset_class = PhoneNumberFilter
    http_method_names = ["get", "post", "delete", "head", "options"]
    ordering_fields = ["id", "updated_at", "created_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[PhoneNumber]:
        return phone_numbers_for(organization=self.organization)

    def get_serializer(self, *args, **kwargs):
        if len(args) == 1 and kwargs.get("many"):  # a page: look consent up for all of it at once
            kwargs["context"] = {
                **self.get_serializer_context(),
                "consents": consents_by_number(organization=self.organization, numbers=list(args[0])),
            }
        return super().get_serializer(*args, **kwargs)

    def create(self, request, *args, **kwargs):
        serializer = PhoneNumberCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        phone = phone_number_add(
            owner=data.get("lead") or data["customer"],
            number=data["number"],
            label=data["label"],
            source=PhoneNumber.Source.LOCAL,
            make_primary=data["is_primary"],
        )
        return Response(self.get_serializer(phone).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        phone_number_delete(phone_number=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"], url_path="set-primary")
    def set_primary(self, request, *args, **kwargs):
        phone = phone_number_set_primary(phone_number=self.get_object())
        phone.refresh_from_db()
        return Response(self.get_serializer(phone).data)


# --- consent --------------------------------------------------------------------------------


class ConsentView(OrganizationAPIMixin, APIView):
    """Text permission per number: its current state and its ledger, and recording a change."""

    def get_serializer_context(self) -> dict[str, Any]:
        return {"request": self.request, "view": self, "organization": self.organization}

    def _state(self, number) -> dict[str, Any]:
        parsed = phone_number_parse(number, field="number")
        state = consent_status(organization=self.organization, number=parsed)
        data = {
            "number": parsed.as_e164,
            "status": state.status,
            "source": state.source,
            "at": state.at,
            "opted_out_at": state.person_opted_out_at,
            "history": consent_history(organization=self.organization, number=parsed),
        }
        return ConsentStateSerializer(data, context=self.get_serializer_context()).data

    @extend_schema(
        summary="Read a number's consent and its history",
        parameters=[ConsentQuerySerializer],
        responses={200: ConsentStateSerializer, **error_responses(400)},
    )
    def get(self, request, *args, **kwargs):
        query = ConsentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(self._state(query.validated_data["number"]))

    @extend_schema(
        summary="Grant or revoke text permission for a number",
        description=(
            "`phone_number` is either the id of a saved number (JSON integer) or a phone number "
            "(JSON string, E.164 like `+15125550142`; US formats are accepted too). Granting needs "
            "`evidence` (how the person agreed). After the person opted out themselves (STOP, the "
            "unsubscribe link, or their carrier) a grant is refused with 409 `opted_out`: only the "
            "person can opt back in, by texting START. The event is recorded with source `api`, your "
            "user, IP address and user agent."
        ),
        request=ConsentRequestSerializer,
        responses={201: ConsentStateSerializer, **error_responses(400, 409)},
        examples=[
            OpenApiExample(
                "Grant",
                value={"phone_number": "+15125550142", "action": "grant", "evidence": "Web quote form, checkbox"},
                request_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        serializer = ConsentRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        record = consent_grant if data["action"] == "grant" else consent_revoke
        record(
            organization=self.organization,
            number=data["phone_number"],
            source=ConsentEvent.Source.API,
            actor=request.user,
            evidence=data["evidence"],
            **request_evidence(request),
        )
        return Response(self._state(data["phone_number"]), status=status.HTTP_201_CREATED)


class ConsentEventFeedView(OrganizationAPIMixin, APIView):
    """The organization's consent ledger as a feed: every grant and revocation, oldest first."""

    replica_actions = frozenset({"get"})  # a list: seconds behind is fine (core/replica.py)

    @extend_schema(
        summary="Follow every consent change of the organization",
        description=(
            "Every ledger event of the organization, newest last. Page on with `next`, and later ask "
            "`?after=<cursor>` for what was recorded since: ids only grow, so nothing is missed or repeated. "
            "`?number=` keeps one number's events. A revocation also moves `updated_at` of the number and of "
            "everyone holding it (what `updated_since` filters on)."
        ),
        parameters=[ConsentFeedQuerySerializer],
        responses={200: ConsentFeedSerializer, **error_responses(400)},
    )
    def get(self, request, *args, **kwargs):
        query = ConsentFeedQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        number = phone_number_parse(data["number"], field="number") if data.get("number") else None
        limit = data["limit"]
        events = consent_events_after(
            organization=self.organization, after=data.get("after") or 0, number=number, limit=limit + 1
        )
        more = len(events) > limit
        events = events[:limit]
        cursor = events[-1].pk if events else data.get("after")
        next_url = None
        if more:
            params = request.query_params.copy()
            params["after"] = str(cursor)
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        body = {"results": events, "next": next_url, "cursor": cursor}
        return Response(ConsentFeedSerializer(body, context={"request": request}).data)


class ConsentEvidenceExportView(OrganizationAPIMixin, APIView):
    """One number's whole ledger as CSV: the evidence an auditor asks for."""

    @extend_schema(
        summary="Export one number's consent evidence (CSV)",
        parameters=[ConsentQuerySerializer],
        responses={(200, "text/csv"): OpenApiTypes.STR, **error_responses(400)},
    )
    def get(self, request, *args, **kwargs):
        query = ConsentQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        parsed = phone_number_parse(query.validated_data["number"], field="number")
        return consent_evidence_csv_response(organization=self.organization, number=parsed)
