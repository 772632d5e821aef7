"""REST API shapes of templates and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from rest_framework import serializers

from core.api import ModelSerializer, OrganizationScopedField, StrictCharField
from core.phonenumbers import present
from interactions.models import PhoneNumber

from .models import Media, Message, MessageTemplate
from .rendering import MERGE_FIELDS, template_fields


class ZonedDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time that must say its zone (``Z`` or an offset), as the panel requires.

    DRF would read a time without one as the server's zone (UTC) and schedule the text hours off.
    """

    default_error_messages = {
        "naive": "Give the time zone: end the time with Z (UTC) or an offset such as -05:00.",
    }

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


class MediaSerializer(ModelSerializer):
    """A picture: its type as read from the content, its size and pixel dimensions, and where to read it."""

    type = serializers.CharField(
        source="content_type", read_only=True, help_text="image/jpeg, image/png, image/gif or image/webp."
    )
    url = serializers.SerializerMethodField(
        help_text="The picture's bytes, for the same credentials as this API (`GET`; another organization's: 404)."
    )

    class Meta:
        model = Media
        fields = ["id", "type", "size", "width", "height", "url", "created_at"]
        read_only_fields = fields

    def get_url(self, obj: Media) -> str:
        return media_api_url(obj)


def media_api_url(media: Media) -> str:
    return settings.PUBLIC_BASE_URL + reverse("api-media-content", kwargs={"pk": media.pk})


def media_shape(media: Media, *, url: str | None = None) -> dict[str, Any]:
    """A picture as the API and the panel describe it; ``url`` where it is read (the API's, by default)."""
    return {
        "id": media.pk,
        "type": media.content_type,
        "size": media.size,
        "width": media.width,
        "height": media.height,
        "url": url or media_api_url(media),
    }


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A JPEG, PNG, GIF or WebP picture, at most 5 MB once stored (its content decides its type, not its "
        "name). It is stored without its metadata (EXIF: location, camera)."
    )


class MessageMediaSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    size = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    url = serializers.CharField(help_text="Authenticated: the same credentials as this API.")


class TemplateSerializer(ModelSerializer):
    body = StrictCharField(
        max_length=1600,
        trim_whitespace=False,
        help_text="The text, with merge fields: " + ", ".join(f"{{{{ {name} }}}}" for name in MERGE_FIELDS) + ".",
    )
    merge_fields = serializers.SerializerMethodField(help_text="The merge fields the body uses.")

    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "category", "body", "active", "merge_fields", "archived_at", "created_at", "updated_at"]
        read_only_fields = ["id", "merge_fields", "archived_at", "created_at", "updated_at"]

    def get_merge_fields(self, obj: MessageTemplate) -> list[str]:
        return list(dict.fromkeys(template_fields(obj.body)))


_DATETIME = serializers.DateTimeField()  # renders as every DateTimeField of the API does (ISO 8601, Z for UTC)


def _e164(value: ParsedNumber | None) -> str | None:
    return value.as_e164 if present(value) else None


class MessageSerializer(ModelSerializer):
    """A text and where it stands; the ``*_at`` timestamps fill in as the provider reports."""

    to = serializers.SerializerMethodField(help_text="The recipient, E.164.")
    body = StrictCharField(read_only=True, help_text="The final text: merge fields filled, link appended.")
    media = serializers.SerializerMethodField(help_text="The text's pictures (an MMS), in the order sent.")

    class Meta:
        model = Message
        fields = [
            "id",
            "status",
            "to",
            "from",
            "body",
            "segments",
            "encoding",
            "media",
            "created_at",
            "send_at",
            "direction",
            "phone_number",
            "lead",
            "customer",
            "template",
            "error_code",
            "error_message",
            "queued_at",
            "sending_at",
            "sent_at",
            "delivered_at",
            "failed_at",
            "received_at",
            "canceled_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Message) -> dict:
        """The declared fields, written out: every Send API response and webhook event renders one,
        and DRF's generic walk over 24 fields cost more than the rest of the response
        (tests/api/test_message_shape.py holds the two to the same output)."""
        when = _DATETIME.to_representation
        data = {
            "id": instance.pk,
            "status": instance.status,
            "to": _e164(instance.to_number),
            "from": _e164(instance.from_number),
            "body": instance.body,
            "segments": instance.segments,
            "encoding": instance.encoding,
            "media": self.get_media(instance),
            "direction": instance.direction,
            "phone_number": instance.phone_number_id,
            "lead": instance.lead_id,
            "customer": instance.customer_id,
            "template": instance.template_id,
            "error_code": instance.error_code,
            "error_message": instance.error_message,
        }
        for name in _MESSAGE_TIMES:
            value = getattr(instance, name)
            data[name] = when(value) if value is not None else None
        return {name: data[name] for name in self.Meta.fields}

    def generic_representation(self, instance: Message) -> dict:
        """DRF's own rendering of the declared fields (what ``to_representation`` must equal)."""
        return dict(super().to_representation(instance))

    @extend_schema_field(MessageMediaSerializer(many=True))
    def get_media(self, obj: Message) -> list[dict[str, Any]]:
        if not obj.media_count:  # a plain SMS reads nothing more
            return []
        rows = getattr(obj, "prefetched_media", None)  # the list's one read for a whole page
        if rows is None:
            rows = obj.attachments.select_related("media").order_by("position")
        return [media_shape(row.media) for row in rows]

    @extend_schema_field(StrictCharField())
    def get_to(self, obj: Message) -> str | None:
        return _e164(obj.to_number)

    @extend_schema_field(StrictCharField(allow_null=True))
    def get_from(self, obj: Message) -> str | None:
        return _e164(obj.from_number)


# The timestamps of the shape: rendered as every DateTimeField of the API renders them.
_MESSAGE_TIMES = tuple(name for name in MessageSerializer.Meta.fields if name.endswith("_at"))

# "from" is a Python keyword, so it can't be written as a class attribute.
MessageSerializer._declared_fields["from"] = serializers.SerializerMethodField(
    method_name="get_from", help_text="The sending number, E.164 (null: the messaging service picks one)."
)


class MessageCreateSerializer(serializers.Serializer):
    phone_number = OrganizationScopedField(
        PhoneNumber,
        select_related=("lead__facility", "customer__facility"),
        help_text="The id of a saved number (on a lead or customer) to text.",
    )
    body = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=5000,
        trim_whitespace=False,
        help_text="The text to send. Give a body or a template, not both. The unsubscribe link is appended.",
    )
    template = OrganizationScopedField(
        MessageTemplate, required=False, allow_null=True, help_text="The id of a template to fill in and send."
    )
    send_at = ZonedDateTimeField(
        required=False,
        allow_null=True,
        help_text="Schedule for later (ISO 8601 with offset, up to 90 days ahead); omit to send now.",
    )
    media = serializers.ListField(
        child=OrganizationScopedField(Media),
        required=False,
        max_length=5,
        help_text="Ids of pictures uploaded with POST /api/v1/media/ to send with the text (an MMS): at most 5, "
        "5 MB together. A picture may be sent any number of times. A template's picture is added first.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("template") is not None and (attrs.get("body") or "").strip():
            raise serializers.ValidationError({"template": ["Send either a body or a template, not both."]})
        return attrs
