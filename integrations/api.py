"""REST API (``/api/v1/``) for webhook endpoints, their delivery log, and API keys (managers only)."""

from __future__ import annotations

import json

from django.db.models import Prefetch, QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api import (
    IdFilter,
    IsManager,
    IsOrganizationMember,
    ModelSerializer,
    OrganizationAPIMixin,
    SinceFilter,
    StrictBooleanFilter,
    StrictCharField,
)
from core.api_errors import error_response, error_responses
from core.parsing import strict_id
from interactions.models import Membership

from .events import PAYLOAD_SCHEMA
from .models import EVENT_TYPES, ApiKey, EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .services import (
    api_key_create,
    api_key_revoke,
    delivery_redeliver,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_rotation_end,
    endpoint_send_test,
    endpoint_update,
    event_body,
)
from .signing import REPLAY_WINDOW_SECONDS

MANAGERS = [IsAuthenticated, IsOrganizationMember, IsManager]

# --- serializers ----------------------------------------------------------------------------


class WebhookEndpointSerializer(ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), min_length=1, help_text="The event types sent here."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "active",
            "failing_since",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "failing_since", "disabled_at", "disabled_reason", "created_at", "updated_at"]


class WebhookEndpointSecretSerializer(WebhookEndpointSerializer):
    secret = StrictCharField(
        read_only=True,
        help_text="The signing secret: keep it, it verifies the `Textdesk-Signature` header. Shown when the "
        "endpoint is created and when the secret is rotated.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookAttemptSerializer(ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["id", *WebhookAttempt.LOG_FIELDS]
        read_only_fields = fields


class WebhookDeliverySerializer(ModelSerializer):
    event = StrictCharField(source="event_id", read_only=True, help_text="The event id (deduplicate on it).")
    event_type = StrictCharField(source="event.type", read_only=True)
    payload = serializers.SerializerMethodField(
        help_text="The body POSTed (the same bytes on every attempt), parsed: one of the `WebhookEvent<Type>` schemas."
    )
    attempt_log = WebhookAttemptSerializer(
        many=True,
        read_only=True,
        help_text="Every attempt, newest first (kept 30 days): time, status code or "
        "error, duration, the start of the answer.",
    )

    class Meta:
        model = WebhookDelivery
        fields = ["id", *WebhookDelivery.LOG_FIELDS, "event_type", "updated_at", "payload", "attempt_log"]
        read_only_fields = fields

    @extend_schema_field(PAYLOAD_SCHEMA)
    def get_payload(self, obj: WebhookDelivery) -> dict:
        return json.loads(event_body(obj.event))


class ApiKeySerializer(ModelSerializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices, default=Membership.Role.AGENT)
    created_by = StrictCharField(
        source="created_by.username", read_only=True, default=None, allow_null=True, help_text="Username."
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "role",
            "prefix",
            "created_by",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = StrictCharField(
        read_only=True, help_text="The key: shown this once (only its hash is kept). Send `Authorization: Token <key>`."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


# --- views ------------------------------------------------------------------------------------


def deliveries_with_attempts(deliveries: QuerySet[WebhookDelivery]) -> QuerySet[WebhookDelivery]:
    """Deliveries with their event and every attempt, in a fixed number of queries per page."""
    attempts = WebhookAttempt.objects.order_by("-id")
    return deliveries.select_related("event", "endpoint").prefetch_related(Prefetch("attempt_log", queryset=attempts))


class EndpointDeliveryFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    event_type = filters.ChoiceFilter(field_name="event__type", choices=EVENT_TYPES)
    updated_since = SinceFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event_type", "updated_since"]


class WebhookEndpointFilter(filters.FilterSet):
    active = StrictBooleanFilter()
    updated_since = SinceFilter()

    class Meta:
        model = WebhookEndpoint
        fields = ["active", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints (managers)"),
    retrieve=extend_schema(summary="Read a webhook endpoint (managers)"),
    create=extend_schema(
        summary="Register a webhook endpoint (managers)",
        description="Events are POSTed as JSON `{id, type, created_at, data}` with a `Textdesk-Signature: "
        f"t=<unix>,v1=<hex>` header: HMAC-SHA256 of `<t>.<body>` with the secret returned here. Refuse a `t` "
        f"more than {REPLAY_WINDOW_SECONDS} seconds off, and drop an event id you already have (delivery is "
        "at least once; events of one object arrive in order). The URL must be https and public.",
        responses={201: WebhookEndpointSecretSerializer, **error_responses(400)},
        examples=[
            OpenApiExample(
                "Delivery receipts and opt-outs",
                value={"url": "https://crm.example.com/textdesk", "events": ["message.delivered", "consent.revoked"]},
                request_only=True,
            )
        ],
    ),
    update=extend_schema(summary="Replace a webhook endpoint (managers)"),
    partial_update=extend_schema(
        summary="Change a webhook endpoint (managers)",
        description="`active: true` switches a switched-off endpoint back on: waiting deliveries go out, in order.",
    ),
    rotate_secret=extend_schema(
        summary="Rotate the signing secret (managers)",
        description="Returns the new secret. For 24 hours each delivery's `webhook-signature` carries a second "
        "`v1,…` signed with the old one, so receivers can switch without losing events.",
        request=None,
        responses={200: WebhookEndpointSecretSerializer},
    ),
    deliveries=extend_schema(
        summary="An endpoint's deliveries, with every attempt (managers)",
        description="Newest first, paged with `cursor` like every list; each delivery has its `payload` (the body "
        "POSTed) and `attempt_log` (time, status code or error, duration in ms, the start of the answer). Kept "
        "30 days.",
        responses={200: WebhookDeliverySerializer(many=True)},
    ),
    send_test=extend_schema(
        summary="Send a test event to this endpoint (managers)",
        description="Queues a `webhook.test` event to this endpoint only (whatever its `events`), delivered like "
        "any other: signed, retried, each attempt logged. The answer is the delivery: follow it with "
        "`GET /api/v1/webhook-deliveries/{id}/`. 409 `endpoint_disabled` while the endpoint is switched off.",
        request=None,
        responses={201: WebhookDeliverySerializer, **error_responses(409)},
    ),
    end_rotation=extend_schema(
        summary="End a rotation's grace period now (managers)",
        description="The old secret stops signing at once (every receiver has the new one). 409 `no_rotation` "
        "when no rotation is in its grace period.",
        request=None,
        responses={200: WebhookEndpointSerializer, 409: error_response(409)},
    ),
)
class WebhookEndpointViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WebhookEndpointSerializer
    permission_classes = MANAGERS
    filterset_class = WebhookEndpointFilter
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    ordering_fields = ["id", "updated_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet:
        if self.action == "deliveries":  # what that action lists (its filters and ordering apply to them)
            return WebhookDelivery.objects.filter(organization=self.organization)
        return WebhookEndpoint.objects.filter(organization=self.organization)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = endpoint_create(organization=self.organization, **serializer.validated_data)
        return Response(WebhookEndpointSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer) -> None:
        serializer.instance = endpoint_update(endpoint=serializer.instance, **serializer.validated_data)

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, *args, **kwargs):
        endpoint = endpoint_rotate_secret(endpoint=self.get_object())
        return Response(WebhookEndpointSecretSerializer(endpoint).data)

    @action(detail=True, methods=["post"], url_path="end-rotation")
    def end_rotation(self, request, *args, **kwargs):
        endpoint = endpoint_rotation_end(endpoint=self.get_object())
        return Response(self.get_serializer(endpoint).data)

    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request, *args, **kwargs):
        delivery = endpoint_send_test(endpoint=self.get_object())
        shown = deliveries_with_attempts(WebhookDelivery.objects.filter(pk=delivery.pk)).get()
        return Response(WebhookDeliverySerializer(shown).data, status=status.HTTP_201_CREATED)

    @action(
        detail=True,
        methods=["get"],
        serializer_class=WebhookDeliverySerializer,
        filterset_class=EndpointDeliveryFilter,
        ordering=["-id"],
    )
    def deliveries(self, request, *args, **kwargs):
        # The endpoint is looked up here, not by get_object: this action's query parameters filter deliveries.
        pk = strict_id(kwargs.get("pk"))
        endpoint = WebhookEndpoint.objects.filter(organization=self.organization, pk=pk).first() if pk else None
        if endpoint is None:
            raise NotFound()
        rows = self.filter_queryset(deliveries_with_attempts(self.get_queryset().filter(endpoint=endpoint)))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class WebhookDeliveryFilter(filters.FilterSet):
    endpoint = IdFilter(field_name="endpoint_id", help_text="Only this endpoint's deliveries.")
    status = filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)
    event_type = filters.ChoiceFilter(field_name="event__type", choices=EVENT_TYPES)
    updated_since = SinceFilter()

    class Meta:
        model = WebhookDelivery
        fields = ["endpoint", "status", "event_type", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="The webhook delivery log (managers)", description="Newest first."),
    retrieve=extend_schema(summary="Read a webhook delivery (managers)"),
    redeliver=extend_schema(
        summary="Send a delivery's event again (managers)",
        description="A new delivery of the same event (same id) to the same endpoint; 409 `endpoint_disabled` "
        "while the endpoint is switched off.",
        request=None,
        responses={201: WebhookDeliverySerializer, **error_responses(409)},
    ),
)
class WebhookDeliveryViewSet(
    OrganizationAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = WebhookDeliverySerializer
    permission_classes = MANAGERS
    filterset_class = WebhookDeliveryFilter
    ordering_fields = ["id", "updated_at"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        return deliveries_with_attempts(WebhookDelivery.objects.filter(organization=self.organization))

    @action(detail=True, methods=["post"])
    def redeliver(self, request, *args, **kwargs):
        again = delivery_redeliver(delivery=self.get_object())
        return Response(self.get_serializer(self.get_queryset().get(pk=again.pk)).data, status=status.HTTP_201_CREATED)


class ApiKeyFilter(filters.FilterSet):
    revoked = StrictBooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)
    updated_since = SinceFilter()

    class Meta:
        model = ApiKey
        fields = ["revoked", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List API keys (managers)", description="Names and prefixes; never the keys."),
    retrieve=extend_schema(summary="Read an API key (managers)"),
    create=extend_schema(
        summary="Create an API key (managers)",
        description="The answer holds the key, once; only its hash is kept. The key acts for your organization "
        "with its `role` (agent or manager); `expires_at` is optional.",
        responses={201: ApiKeyCreatedSerializer, **error_responses(400)},
        examples=[OpenApiExample("PMS sync", value={"name": "PMS sync", "role": "agent"}, request_only=True)],
    ),
    revoke=extend_schema(
        summary="Revoke an API key (managers)",
        description="It stops working at once; revoking again changes nothing. A key can't revoke itself "
        "(409 `own_key`): a manager or another key does.",
        request=None,
        responses={200: ApiKeySerializer, **error_responses(409)},
    ),
)
class ApiKeyViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ApiKeySerializer
    permission_classes = MANAGERS
    filterset_class = ApiKeyFilter
    ordering_fields = ["id", "updated_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[ApiKey]:
        return ApiKey.objects.filter(organization=self.organization).select_related("created_by")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, key = api_key_create(
            organization=self.organization, created_by=request.user, **serializer.validated_data
        )
        api_key.key = key  # shown this once
        return Response(ApiKeyCreatedSerializer(api_key).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        return Response(self.get_serializer(api_key_revoke(api_key=self.get_object(), by=request.user)).data)
