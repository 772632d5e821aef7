"""REST API (``/api/v1/``) for templates and messages, including idempotent sends."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api import (
    IdFilter,
    IsManagerOrReadOnly,
    IsOrganizationMember,
    OrganizationAPIMixin,
    SinceFilter,
    StrictBooleanFilter,
)
from core.api_errors import error_responses, service_error_body
from core.errors import ServiceError
from core.idempotency import fingerprint as request_fingerprint

from .idempotency import (
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_release,
)
from .models import Media, Message, MessageMedia, MessageTemplate
from .serializers import (
    MediaSerializer,
    MediaUploadSerializer,
    MessageCreateSerializer,
    MessageSerializer,
    TemplateSerializer,
)
from .services import (
    media_create,
    message_cancel,
    message_queue,
    message_resend_without_media,
    template_archive,
    template_create,
    template_update,
)

# --- templates ------------------------------------------------------------------------------


class TemplateFilter(filters.FilterSet):
    category = filters.ChoiceFilter(choices=MessageTemplate.Category.choices)
    active = StrictBooleanFilter()
    archived = StrictBooleanFilter(
        field_name="archived_at",
        lookup_expr="isnull",
        exclude=True,
        help_text="Archived templates (hidden unless true).",
    )
    updated_since = SinceFilter()

    class Meta:
        model = MessageTemplate
        fields = ["category", "active", "archived", "updated_since"]


@extend_schema_view(
    list=extend_schema(summary="List templates"),
    retrieve=extend_schema(summary="Read a template"),
    create=extend_schema(
        summary="Create a template (managers)",
        description="Unknown or unclosed merge fields are refused with 400 naming `body`.",
        examples=[
            OpenApiExample(
                "Reminder",
                value={
                    "name": "Payment reminder",
                    "category": "collections",
                    "body": "Hi {{ first_name }}, your balance at {{ facility_name }} is {{ balance_due }}.",
                },
                request_only=True,
            )
        ],
    ),
    update=extend_schema(summary="Replace a template (managers)"),
    partial_update=extend_schema(summary="Change a template (managers)"),
    archive=extend_schema(
        summary="Archive a template (managers)",
        description="It leaves the panel's picker and the lists (`?archived=true` lists archived ones) and can "
        "no longer be sent; texts sent with it keep it. Archiving again changes nothing.",
        request=None,
    ),
)
class TemplateViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Agents read templates; managers also create and change them."""

    serializer_class = TemplateSerializer
    filterset_class = TemplateFilter
    permission_classes = [IsAuthenticated, IsOrganizationMember, IsManagerOrReadOnly]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    ordering_fields = ["id", "updated_at", "created_at"]
    ordering = ["id"]

    def get_queryset(self) -> QuerySet[MessageTemplate]:
        templates = MessageTemplate.objects.filter(organization=self.organization)
        if self.action == "list" and "archived" not in self.request.query_params:
            templates = templates.filter(archived_at__isnull=True)  # archived ones only on request
        return templates

    @action(detail=True, methods=["post"])
    def archive(self, request, *args, **kwargs):
        template = template_archive(template=self.get_object())
        return Response(self.get_serializer(template).data)

    def perform_create(self, serializer) -> None:
        serializer.instance = template_create(organization=self.organization, **serializer.validated_data)

    def perform_update(self, serializer) -> None:
        serializer.instance = template_update(template=serializer.instance, **serializer.validated_data)


# --- messages -------------------------------------------------------------------------------


class MessageFilter(filters.FilterSet):
    lead = IdFilter(field_name="lead_id", help_text="Only texts with this lead.")
    customer = IdFilter(field_name="customer_id", help_text="Only texts with this customer.")
    phone_number = IdFilter(field_name="phone_number_id", help_text="Only texts with this saved number.")
    facility = IdFilter(field_name="facility_id", help_text="Only texts of this facility.")
    status = filters.ChoiceFilter(choices=Message.Status.choices)
    direction = filters.ChoiceFilter(choices=Message.Direction.choices)
    updated_since = SinceFilter()

    class Meta:
        model = Message
        fields = ["lead", "customer", "phone_number", "facility", "status", "direction", "updated_since"]


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "A unique value per text you mean to send (a UUID). Retrying with the same key and the same body "
        "within 24 hours returns the first response and sends nothing; the same key with a different body "
        "answers 422; while the first request is still running, 409 (retry shortly). Responses replayed "
        "carry `Idempotent-Replayed: true`."
    ),
)

SEND_REFUSALS = (
    "Refusals: 400 `no_consent` (no text permission on record), `opted_out` (the person opted out; only their "
    "START re-opts in), `quiet_hours` (outside the recipient's texting hours under "
    "federal or state law or the organization's own; `jurisdiction` names which, `next_allowed_at` says when to "
    "retry or schedule with `send_at`), `frequency_cap` (the 24-hour cap of the recipient's state, e.g. 3 in "
    "Florida, or the organization's; `next_allowed_at`), `too_long` (over 1,600 characters with the link), "
    "`empty_body`, `inactive_template`, `invalid_send_at`; 409 `duplicate_schedule` (the same text to the same "
    "person and number is already scheduled for that `send_at`, by anyone or a workflow; `message_id` names it)."
)


@extend_schema_view(
    list=extend_schema(summary="List texts", description="Newest first (`?ordering=updated_at` to sync)."),
    resend_without_media=extend_schema(
        summary="Send a failed text again without its pictures",
        description="For a text whose picture the carrier refused (`error_code` 30019, 12300 or 21620): the same "
        "words go again as a plain text, under every check of a new text. 201 with the new text; 409 "
        "`not_resendable` for a text that did not fail over its pictures.",
        request=None,
        responses={201: MessageSerializer, **error_responses(400, 409)},
    ),
    cancel=extend_schema(
        summary="Cancel a scheduled or queued text",
        description="The text becomes `canceled` and is never sent. Once sending has started (or the text was "
        "sent, failed or is inbound) the answer is 409 `not_cancelable`; canceling twice answers 200.",
        request=None,
        responses={200: MessageSerializer, **error_responses(409)},
    ),
    retrieve=extend_schema(
        summary="Read a text and its delivery status",
        description="`status` moves scheduled → queued → sending → sent → delivered | undelivered | failed; "
        "`error_code` is the provider's own code for a failed text, `error_message` says why in words.",
    ),
    create=extend_schema(
        summary="Send a text (or schedule it)",
        description="Give `phone_number` and either `body` or `template`. The text is queued and sent by a "
        "worker; read it back with GET /api/v1/messages/{id}/ for its delivery status. " + SEND_REFUSALS,
        parameters=[IDEMPOTENCY_KEY],
        request=MessageCreateSerializer,
        responses={
            201: MessageSerializer,
            **error_responses(400, 409, 422),
        },
        examples=[
            OpenApiExample("A template", value={"phone_number": 12, "template": 3}, request_only=True),
            OpenApiExample(
                "Typed text, scheduled",
                value={"phone_number": 12, "body": "Your unit is ready.", "send_at": "2030-05-01T15:00:00Z"},
                request_only=True,
            ),
        ],
    ),
)
class MessageViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = MessageSerializer
    filterset_class = MessageFilter
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["id", "updated_at", "created_at"]
    ordering = ["-id"]  # newest first
    own_idempotency = frozenset({"create"})  # messaging.idempotency: the key commits with the text

    def get_queryset(self) -> QuerySet[Message]:
        messages = Message.objects.filter(organization=self.organization)
        if self.action == "list":  # a page's pictures in one read (none is read for a text without)
            pictures = MessageMedia.objects.select_related("media").order_by("position")
            messages = messages.prefetch_related(Prefetch("attachments", queryset=pictures, to_attr="prefetched_media"))
        return messages

    @action(detail=True, methods=["post"], url_path="resend-without-media")
    def resend_without_media(self, request, *args, **kwargs):
        message = message_resend_without_media(message=self.get_object(), sent_by=request.user)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        message = message_cancel(message=self.get_object())
        return Response(MessageSerializer(message).data)

    def _queue(self, request, *, idempotency_key: str | None = None) -> Message:
        serializer = MessageCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return message_queue(
            phone_number=data["phone_number"],
            sent_by=request.user,
            body=data.get("body") or "",
            template=data.get("template"),
            send_at=data.get("send_at"),
            media=data.get("media") or (),
            idempotency_key=idempotency_key,
        )

    def create(self, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            message = self._queue(request)
            return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

        fingerprint = request_fingerprint(method=request.method, path=request.path, data=request.data)
        claim = idempotency_key_claim(organization=self.organization, key=key, fingerprint=fingerprint)
        if claim.replay:
            response = Response(claim.row.response_body, status=claim.row.response_code)
            response["Idempotent-Replayed"] = "true"
            return response
        try:
            # The text and the stored response commit together: a crash leaves neither.
            with transaction.atomic():
                message = self._queue(request, idempotency_key=claim.row.key)
                body = dict(MessageSerializer(message).data)
                idempotency_key_complete(claim=claim, response_code=201, response_body=body, message=message)
        except ServiceError as exc:
            if exc.code in ("duplicate",) or exc.status >= 500:
                idempotency_key_release(claim=claim)
                raise
            # A refusal is the outcome of this request (like Stripe's card decline): replayed too.
            idempotency_key_complete(claim=claim, response_code=exc.status, response_body=service_error_body(exc))
            raise
        except BaseException:
            # Invalid input or a failure: nothing was done, so a corrected retry may reuse the key.
            idempotency_key_release(claim=claim)
            raise
        return Response(body, status=status.HTTP_201_CREATED)


# --- pictures ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List pictures", description="Newest first."),
    retrieve=extend_schema(summary="Read a picture's type, size and dimensions"),
    create=extend_schema(
        summary="Upload a picture (to send with a text)",
        description="Multipart, one `file`. Its type is read from its content (JPEG, PNG, GIF or WebP); anything "
        "else is refused with 400 `not_a_picture`, whatever its name. It is stored without its metadata (EXIF: "
        "the location, the camera). At most 5 MB once stored (`picture_too_large`): the carriers' limit for one "
        "text. Give its `id` in `media` of POST /api/v1/messages/.",
        request={"multipart/form-data": MediaUploadSerializer},
        responses={201: MediaSerializer, **error_responses(400)},
    ),
    content=extend_schema(
        summary="Read a picture's bytes",
        responses={(200, "image/*"): OpenApiTypes.BINARY},
    ),
)
class MediaViewSet(
    OrganizationAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Pictures for texts (MMS): uploaded here, sent by id with a text, read back by members of the organization."""

    serializer_class = MediaSerializer
    parser_classes = [MultiPartParser]
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self) -> QuerySet[Media]:
        return Media.objects.filter(organization=self.organization)

    def create(self, request, *args, **kwargs):
        serializer = MediaUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        media = media_create(
            organization=self.organization, file=upload, name=upload.name or "picture", created_by=request.user
        )
        return Response(MediaSerializer(media).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"])
    def content(self, request, *args, **kwargs):
        media = self.get_object()
        response = FileResponse(media.file.open("rb"), content_type=media.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        return response
