"""Outbound webhooks (endpoints, events, deliveries) and API keys of an organization."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from interactions.models import Membership, Organization


class EventType(models.TextChoices):
    MESSAGE_QUEUED = "message.queued", "A text was queued to send"
    MESSAGE_SENT = "message.sent", "A text was handed to the carrier"
    MESSAGE_DELIVERED = "message.delivered", "A text was delivered"
    MESSAGE_FAILED = "message.failed", "A text failed or was undelivered"
    MESSAGE_RECEIVED = "message.received", "A text came in"
    CONSENT_GRANTED = "consent.granted", "Text permission granted"
    CONSENT_REVOKED = "consent.revoked", "Text permission revoked (STOP, link, carrier, agent, API)"
    TASK_CREATED = "task.created", "A workflow task was created"
    TASK_COMPLETED = "task.completed", "A workflow task was done"


# Not a subscription: a manager's "Send test event" (one endpoint only, whatever its events).
TEST_EVENT = "webhook.test"
# Every type an event row can have: what endpoints subscribe to, and the test event.
EVENT_TYPES = [*EventType.choices, (TEST_EVENT, "A test event a manager sent to one endpoint")]


def secret_masked(secret: str) -> str:
    """A signing secret as pages show it after it was first shown: the kind and its last four characters."""
    return f"whsec_…{secret[-4:]}" if secret else ""


class WebhookEndpoint(models.Model):
    """A URL of the organization's own systems that receives the events it chose, signed."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField("URL", max_length=500, help_text="https://… (the events are POSTed here).")
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list, help_text="The event types sent here.")
    # The signing secret is needed in clear to sign (HMAC), unlike an API key, which is only compared.
    secret = models.CharField(max_length=64)
    # After a rotation the old secret signs too (a second v1=) until this time, so receivers can switch.
    previous_secret = models.CharField(max_length=64, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True, help_text="Switched off: nothing is sent; deliveries wait.")
    # Since when every attempt failed (cleared by a success); 24 hours of it switch the endpoint off.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """Something that happened, as the API showed it then; its id lets receivers drop duplicates."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=32, choices=EVENT_TYPES)
    object_type = models.CharField(max_length=16)
    object_id = models.CharField(max_length=64)
    data = models.JSONField(encoder=DjangoJSONEncoder)
    # The moment of the change, not of the fan-out that made this row a moment later (``WebhookOutbox.at``).
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.object_type} {self.object_id}"


class WebhookOutbox(models.Model):
    """An event still to be made: what the text's (or consent's, or task's) own path writes, one
    ``INSERT``, when somebody subscribes to its type; the ``webhooks`` worker turns it into a
    ``WebhookEvent`` and its deliveries and deletes it (services ``outbox_drain``).

    For a text, ``row`` is its columns as they were at the change (``Model.from_db`` rebuilds the
    text from them, and the API serializer renders the event then): the send path pays for no read,
    no serializer and no Celery publish. Consent and task events are rare and carry their finished
    ``data``. Rows live seconds; the table is scanned in ``id`` order only (its primary key).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    type = models.CharField(max_length=32, choices=EVENT_TYPES)
    object_type = models.CharField(max_length=16)
    object_id = models.CharField(max_length=64)
    # "messaging.message" with ``row``: the model whose row the event renders; empty with ``data``.
    model = models.CharField(max_length=64, blank=True)
    row = models.JSONField(null=True, blank=True)
    data = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(help_text="When it happened: the event's created_at.")

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook event to make"

    def __str__(self) -> str:
        return f"{self.type} {self.object_type} {self.object_id} (to make)"


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint: the delivery log (attempts, last answer)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (given up)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    # Deliveries of one object to one endpoint go out in id order (``object_key`` is "message:42").
    object_key = models.CharField(max_length=96)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=500, blank=True, help_text="The start of the last answer's body.")
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The delivery log's fields, as the admin and the API show them (both read-only).
    LOG_FIELDS = (
        "endpoint",
        "event",
        "object_key",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_response",
        "last_error",
        "delivered_at",
        "created_at",
    )

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "object_key", "status"]),
            models.Index(fields=["status", "next_attempt_at"]),
            # The retention purge (services ``webhook_history_purge``): finished deliveries older than the window.
            models.Index(fields=["created_at"], name="webhook_delivery_created"),
        ]

    def __str__(self) -> str:
        return f"{self.event.type} → {self.endpoint.url} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, what came back (or why nothing did) and how long it took.

    Written by the worker after each attempt (services ``delivery_attempt``), never edited; kept
    ``WEBHOOK_RETENTION_DAYS`` (the beat task ``purge_webhook_history``). The response excerpt is the
    start of the receiver's answer, at most ``RESPONSE_EXCERPT`` characters, with the endpoint's
    signing secrets blanked out should a receiver echo them.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # Indexed with the id below (a delivery's attempts, newest first), not on its own.
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", db_index=False)
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: no answer.")
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(help_text="From the start of the POST to the end of the answer.")
    response_excerpt = models.CharField(max_length=1024, blank=True, help_text="The start of the answer's body.")

    LOG_FIELDS = ("attempted_at", "status_code", "error", "duration_ms", "response_excerpt")

    class Meta:
        ordering = ["-id"]
        indexes = [
            # A delivery's attempts (the admin's inline, the API's ``attempt_log``).
            models.Index(fields=["delivery", "id"], name="webhook_attempt_delivery"),
            # The retention purge: attempts older than the window.
            models.Index(fields=["attempted_at"], name="webhook_attempt_purge"),
        ]

    def __str__(self) -> str:
        answer = f"HTTP {self.status_code}" if self.status_code is not None else "no answer"
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {answer} in {self.duration_ms} ms"


class ApiKey(models.Model):
    """A named key an integration uses instead of a person's token; it acts for the organization with a role.

    Only a SHA-256 of the key is kept (the key is shown once). Keys are 256 random bits, so a fast
    hash is enough: nobody can guess a key from its hash, unlike a password, which needs a slow one.
    The ``prefix`` (in the key itself) finds the row; the hash is then compared in constant time.
    Each key acts through its own user (``api-key-<prefix>``), so every record names the key.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. “PMS sync”.")
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.AGENT)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_key", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: until revoked.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (td_{self.prefix}_…)"
