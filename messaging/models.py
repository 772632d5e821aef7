"""Templates, the message outbox and unsubscribe links."""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from core.search import SEARCH_CONFIG, SearchIndex, StoredSearchVector
from interactions.models import Customer, Facility, Lead, Organization, PhoneNumber
from interactions.signals import announce_on_commit

from .signals import message_status_changed, messages_status_changed


class MessageTemplate(models.Model):
    class Category(models.TextChoices):
        GENERAL = "general", "General"
        COLLECTIONS = "collections", "Collections"
        LEAD_FOLLOW_UP = "lead_follow_up", "Lead follow-up"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=120)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.GENERAL)
    body = models.TextField(
        help_text="Merge fields: {{ first_name }}, {{ last_name }}, {{ facility_name }}, "
        "{{ facility_phone }}, {{ agent_name }}, {{ balance_due }}, {{ unit }}."
    )
    active = models.BooleanField(default=True)
    # Set when a carrier filtered a text from this template as spam (30007): a manager reviews the wording.
    flagged_at = models.DateTimeField("flagged by a carrier at", null=True, blank=True)
    flag_reason = models.CharField("why it is flagged", max_length=300, blank=True)
    # Archived templates leave the pickers and the API's lists (``?archived=true`` shows them); texts keep them.
    archived_at = models.DateTimeField(null=True, blank=True)
    # A picture sent with every text from this template (the text becomes an MMS).
    media = models.ForeignKey(
        "Media", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="picture"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="template_name_unique_per_org")]

    def __str__(self) -> str:
        return self.name


# The codes the worker itself writes on a text it did not send, in the backends' provider-neutral words.
OWN_ERROR_REASONS = {
    "opted_out": "recipient_opted_out",
    "invalid_number": "invalid_number",
    "no_consent": "refused",
    "sender_not_registered": "sender_not_registered",
}


class MessageQuerySet(models.QuerySet):
    def move_to(self, status: str, *, now: datetime, **fields: Any) -> int:
        """``Message.move_to`` for many rows in one UPDATE: only rows ranked below ``status`` move; the count."""
        below = [value for value, rank in Message.RANK.items() if rank < Message.RANK[status]]
        values = {"status": status, "updated_at": now, **fields}
        if stamp := Message.STAMPS.get(status):
            values[stamp] = now
        moving = self.filter(status__in=below)
        if not messages_status_changed.has_listeners():
            return moving.update(**values)
        # The ids first, to announce them (the listeners read the rows again and skip any that moved on).
        ids = list(moving.values_list("pk", flat=True))
        count = Message.objects.filter(pk__in=ids, status__in=below).update(**values) if ids else 0
        if count:
            announce_on_commit(messages_status_changed, Message, message_ids=ids, status=status)
        return count


def counted_moment() -> Coalesce:
    """When a text counts towards its number's daily cap: sent, else handed over, else due, else queued, else
    written (``messaging.compliance.engine``). One definition for the query and the index on it
    (``message_org_to_counted``): PostgreSQL uses an expression index only for the same expression."""
    return Coalesce("sent_at", "sending_at", "send_at", "queued_at", "created_at")


class Message(models.Model):
    """One text, inbound or outbound. Outbound rows are the outbox the worker drains."""

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Outbound"
        INBOUND = "inbound", "Inbound"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        NEEDS_RECONCILIATION = "needs_reconciliation", "Needs reconciliation"
        RECEIVED = "received", "Received"
        CANCELED = "canceled", "Canceled"

    # Status only moves forward (docs/ARCHITECTURE.md rule 8): a transition to a lower rank is ignored.
    RANK: dict[str, int] = {
        Status.SCHEDULED: 0,
        Status.QUEUED: 1,
        Status.SENDING: 2,
        Status.NEEDS_RECONCILIATION: 3,
        Status.SENT: 4,
        Status.DELIVERED: 5,
        Status.UNDELIVERED: 5,
        Status.FAILED: 5,
        Status.RECEIVED: 5,
        # Final like a failure: only a scheduled or queued text is canceled (``message_cancel``), and
        # nothing moves it on, so the worker's claim (queued only) never sends it.
        Status.CANCELED: 5,
    }
    # The moves back the send pipeline makes on purpose: a claimed send given back to the queue
    # (throttled, retried, never reached the provider), and a queued one held for texting hours.
    RETREATS = frozenset({(Status.SENDING, Status.QUEUED), (Status.QUEUED, Status.SCHEDULED)})
    # Which time each status writes.
    STAMPS: dict[str, str] = {
        Status.QUEUED: "queued_at",
        Status.SENDING: "sending_at",
        Status.SENT: "sent_at",
        Status.DELIVERED: "delivered_at",
        Status.UNDELIVERED: "failed_at",
        Status.FAILED: "failed_at",
        Status.RECEIVED: "received_at",
        Status.CANCELED: "canceled_at",
    }

    class Encoding(models.TextChoices):
        GSM7 = "GSM-7", "GSM-7"
        UCS2 = "UCS-2", "UCS-2"

    # The message log is evidence: the rows it points at can't be deleted from under it (PROTECT).
    # The template may go (the body as sent is kept here).
    # Indexes are all named in Meta (each with the query it serves); no field adds one of its own.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="messages", db_index=False)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.OUTBOUND)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    phone_number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    facility = models.ForeignKey(
        Facility, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    to_number = PhoneNumberField()
    from_number = PhoneNumberField(blank=True)
    body = models.TextField(help_text="The final text as sent, merge fields filled and the link appended.")
    template = models.ForeignKey(
        MessageTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.QUEUED)
    provider_sid = models.CharField(max_length=64, null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    segments = models.PositiveSmallIntegerField(default=1)
    # Pictures (MMS): how many the text carries. Outbound: attached when queued; inbound: Twilio's
    # NumMedia, attached as each is fetched. 0 for a plain SMS, so a send reads no attachments.
    media_count = models.PositiveSmallIntegerField(default=0)
    encoding = models.CharField(max_length=5, choices=Encoding.choices, default=Encoding.GSM7)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # Who sent it, as named at the time: it outlives the user account (``sent_by`` empties when one is deleted).
    actor_name = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The request that queued the text (core/tracing.py): its send and status callbacks log under it.
    request_id = models.CharField(max_length=64, blank=True, default="")
    # An inbound text asking, in plain words, not to be texted: for an agent to act on.
    flagged_opt_out_request = models.BooleanField(default=False)
    # An agent read the flagged reply and judged it is not a request to stop (the note says why).
    flag_dismissed_at = models.DateTimeField(null=True, blank=True)
    flag_dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    flag_dismissed_note = models.CharField(max_length=500, blank=True)
    # An outbound text a carrier filtered as spam (30007): for a manager to review its wording.
    flagged_as_spam = models.BooleanField(default=False)
    # A flagged request must be honoured within 10 business days (47 CFR 64.1200(a)(10)).
    opt_out_due_at = models.DateTimeField(null=True, blank=True)
    # The one confirmation text of a revocation (FCC 24-24): at most one per ledger event, by the database.
    confirms_event = models.OneToOneField(
        "interactions.ConsentEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="confirmation"
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    send_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # The body's words for the inbox search, kept by PostgreSQL itself (NULL on SQLite, which matches
    # fragments instead): ``messaging.selectors.inbox`` queries it through ``message_body_search``.
    search = models.GeneratedField(
        expression=StoredSearchVector("body", config=SEARCH_CONFIG),
        output_field=SearchVectorField(null=True),
        db_persist=True,
    )

    objects = MessageQuerySet.as_manager()
    # The text's pictures in order, when a thread selector read them (``message_media_map``); not a field.
    pictures: list[Media]

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="message_idempotency_key_unique_per_org",
            ),
            # Status callbacks find their text by the provider's id (messaging.services.inbound).
            models.UniqueConstraint(fields=["provider_sid"], name="message_provider_sid_unique"),
        ]
        # Every index names the query it serves (docs/ARCHITECTURE.md "Indexes on texts"); each one is
        # written on every send, so one that serves nothing is dropped. Composites lead with the
        # column every query filters on, which makes an index on that column alone redundant.
        indexes = [
            # The API's list, newest first (``ordering=-id``), and its cursor pages.
            models.Index(fields=["organization", "id"], name="message_org_id"),
            # The API's ``?ordering=created_at`` and the inbox search's newest matches first.
            models.Index(fields=["organization", "created_at", "id"], name="message_org_created"),
            # The API's ``?ordering=updated_at`` (sync) and ``?since=``.
            models.Index(fields=["organization", "updated_at", "id"], name="message_org_updated"),
            # A person's thread (card, panel, inbox's last text), newest first.
            models.Index(fields=["lead", "created_at"], name="message_lead_created"),
            models.Index(fields=["customer", "created_at"], name="message_customer_created"),
            # The opt-out confirmation, the carrier's unreachable count, reconcile's taken SIDs; a thread's
            # texts to each of its numbers.
            models.Index(fields=["organization", "to_number", "created_at"], name="message_org_to_created"),
            # The daily caps (``compliance.engine.texts_counted``: every capped send, the worker's claim,
            # the panel header, the home list): a number's texts counted in the 24 hours to a moment, read
            # as one range of this index. By ``created_at`` it walked all the number's texts ever sent (a
            # text scheduled 90 days ahead counts when it goes); not partial, so a prepared statement's
            # generic plan can use it too.
            models.Index(F("organization"), F("to_number"), counted_moment(), name="message_org_to_counted"),
            # Replies from a number: the inbound flag rules, unmatched texts, who a reply belongs to.
            models.Index(fields=["organization", "from_number", "created_at"], name="message_org_from_created"),
            # Every send asks whether the number has a plain-words stop request still waiting
            # (selectors.open_request_ids): the index holds only those, so the answer costs nothing.
            models.Index(
                fields=["organization", "from_number"],
                condition=Q(direction="inbound", flagged_opt_out_request=True, flag_dismissed_at__isnull=True),
                name="message_open_flag_idx",
            ),
            # The panel's "Scheduled" list (selectors.scheduled_texts) and the send's refusal of a second
            # identical schedule (services.compose._refuse_duplicate_schedule): only texts still waiting.
            models.Index(
                fields=["organization", "to_number", "send_at"],
                condition=Q(status="scheduled"),
                name="message_scheduled_idx",
            ),
            # /outstanding/'s texts from unknown numbers: replies filed under no record when they arrived.
            models.Index(
                fields=["organization", "created_at"],
                condition=Q(direction="inbound", phone_number__isnull=True),
                name="message_inbound_unmatched",
            ),
            # A reply on the install-wide messaging service: which organization last texted the sender
            # through it (``inbound_organization``); only those texts (no facility sender) are held.
            models.Index(
                fields=["to_number", "created_at"],
                condition=Q(direction="outbound", from_number=""),
                name="message_shared_service_to",
            ),
            # The sweepers: queued texts stuck since (``requeue_stuck``), the oldest queued (metrics).
            models.Index(fields=["status", "queued_at"], name="message_status_queued"),
            # ``release_scheduled``: scheduled texts whose time came.
            models.Index(fields=["send_at"], condition=Q(status="scheduled"), name="message_scheduled_due"),
            # The protected and nulled references: deleting a number, facility, template or user
            # checks or updates its texts through these instead of reading the table.
            models.Index(fields=["phone_number"], name="message_phone_number"),
            models.Index(fields=["facility"], name="message_facility"),
            models.Index(fields=["template"], name="message_template"),
            models.Index(fields=["sent_by"], name="message_sent_by"),
            models.Index(fields=["flag_dismissed_by"], name="message_flag_dismissed_by"),
            # The inbox search: words in bodies (``search @@ websearch_to_tsquery``).
            SearchIndex(fields=["search"], name="message_search"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.to_number} ({self.status})"

    @property
    def failure_reason(self) -> str:
        """Why this text failed, provider-neutral (``messaging.backends``), from our own code or the provider's."""
        if not self.error_code:
            return ""
        if self.error_code in OWN_ERROR_REASONS:
            return OWN_ERROR_REASONS[self.error_code]
        from .backends import describe_provider_error  # the backend reads its provider's codes

        return describe_provider_error(self.error_code).reason

    def can_move_to(self, status: str) -> bool:
        return self.RANK[status] > self.RANK[self.status]

    def move_to(self, status: str, *, now: datetime, **fields: Any) -> list[str]:
        """Move this text to ``status``, stamp its time, set ``fields``; the names to ``save(update_fields=…)``.

        The one place a text changes status (docs/ARCHITECTURE.md rule 8): forward only, by
        ``RANK``, except the pipeline's own ``RETREATS``. A move the other way is a bug, not a late
        callback (callers check ``can_move_to`` for those), so it raises.
        """
        retreat = (self.status, status) in self.RETREATS
        if not self.can_move_to(status) and not retreat:
            raise ValueError(f"A text does not move from {self.status} to {status}.")
        self.status = status
        changed = ["status", "updated_at"]
        stamp = self.STAMPS.get(status)
        if stamp:
            setattr(self, stamp, now)
            changed.append(stamp)
        for name, value in fields.items():
            setattr(self, name, value)
            changed.append(name)
        if not retreat:  # a claimed send handed back to the queue is not news for anyone above
            announce_on_commit(message_status_changed, Message, message=self, status=status)
        return list(dict.fromkeys(changed))

    def move_from(self, expected: str, status: str, *, now: datetime, **fields: Any) -> bool:
        """``move_to`` and save in one conditional UPDATE, if the row is still ``expected``; True if it moved.

        No lock and no read: the row's status decides in the database. When it moved, this instance
        mirrors the row as saved and the move is announced with it (listeners need not read it
        again); when something else moved the row first, nothing is written and this instance is
        left as it was.
        """
        values = {"status": status, "updated_at": now, **fields}
        if stamp := self.STAMPS.get(status):
            values[stamp] = now
        if not Message.objects.filter(pk=self.pk, status=expected).update(**values):
            return False
        self.status, self.updated_at = expected, now
        self.move_to(status, now=now, **fields)
        return True


def _media_path(instance: Media, filename: str) -> str:
    # Named by a random id, never by the uploaded name; one folder per organization.
    return f"media/{instance.organization_id}/{secrets.token_hex(16)}.{instance.extension}"


class Media(models.Model):
    """A picture: uploaded for a text (the API, the panel, a template) or received in an MMS.

    The file lives in Django's default storage (the file system on ``make run``, an S3-compatible
    bucket in production). Its type is what Pillow read from its content, never the name or the
    declared type, and it is stored re-encoded without metadata (EXIF, so no location).
    """

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded"
        INBOUND = "inbound", "Received"

    EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+", db_index=False)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UPLOAD)
    file = models.FileField(upload_to=_media_path, max_length=200)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField(help_text="Bytes, as stored.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Received pictures: Twilio's media id, and when (or why not) it was deleted at Twilio after we stored it.
    provider_sid = models.CharField(max_length=64, blank=True)
    provider_deleted_at = models.DateTimeField(null=True, blank=True)
    provider_delete_error = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "picture"
        indexes = [
            # The admin's and the API's lists, newest first, of one organization.
            models.Index(fields=["organization", "id"], name="media_org_id"),
            # The protected reference: deleting a user nulls ``created_by`` through this.
            models.Index(fields=["created_by"], name="media_created_by"),
        ]

    def __str__(self) -> str:
        return f"{self.content_type} {self.width}×{self.height} (#{self.pk})"

    @property
    def extension(self) -> str:
        return self.EXTENSIONS.get(self.content_type, "bin")


class MessageMedia(models.Model):
    """A picture of a text, in the order it is sent (Twilio's MediaUrl order)."""

    # Whose picture row it is, as on its text and its picture (docs/SCALE.md "Past one database"). PROTECT
    # like the text's own; no index of its own: every read comes through the text or the picture.
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+", db_index=False)
    # The unique (message, position) serves reads by message.
    # A text deleted (retention) takes its attachment rows with it; the picture stays (PROTECT below).
    # No database constraint (nor in the four keys below and workflows'): texts are partitioned by month on
    # PostgreSQL, whose key is (id, created_at); Django still cascades on ``.delete()``, and the retention's
    # partition drop does it in SQL (``messaging.partitions``).
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments", db_index=False, db_constraint=False
    )
    media = models.ForeignKey(Media, on_delete=models.PROTECT, related_name="attachments", db_index=False)
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["message", "position"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="message_media_position_unique"),
            models.UniqueConstraint(fields=["message", "media"], name="message_media_once"),
        ]
        indexes = [
            # Deleting a picture checks its texts through this (PROTECT).
            models.Index(fields=["media"], name="message_media_media"),
        ]

    def __str__(self) -> str:
        return f"Picture {self.position + 1} of text {self.message_id}"


TOKEN_LENGTH = 16  # base62: ~95 bits, unguessable and not enumerable


def _new_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(TOKEN_LENGTH))


def tokens_masked(text: str) -> str:
    """``text`` with every unsubscribe token cut to its last four characters, for staff to read.

    The token is the person's own credential: whoever holds it opts the person out in their name, so
    no page staff use shows it whole (the texts themselves carry it, as sent).
    """
    return UNSUBSCRIBE_PATH.sub(lambda match: f"/u/…{match.group(1)[-4:]}", text)


UNSUBSCRIBE_PATH = re.compile(r"/u/([A-Za-z0-9]{10,32})")


class UnsubscribeLink(models.Model):
    """``/u/<token>`` for one number in one organization; the token carries no personal data."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    number = PhoneNumberField()
    token = models.CharField(max_length=32, unique=True, default=_new_token)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="unsubscribe_link_unique_per_number")
        ]

    def __str__(self) -> str:
        return tokens_masked(f"/u/{self.token}")

    @property
    def url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/u/{self.token}"


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` an API client sent with ``POST /api/v1/messages/``.

    The row is claimed (inserted, committed) before the work starts, so a concurrent duplicate
    finds it and is told to wait (409); once the work is done it holds the response to replay.
    Keys live 24 hours.
    """

    class Status(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Done"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and request body.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_FLIGHT)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When the current holder took the key; an in-flight claim older than a minute was abandoned.
    locked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="idempotency_key_unique_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class Conversation(models.Model):
    """One person's conversation, as the inbox lists it: a summary of their texts kept with each text,
    who answers them, and what an agent did with it (read, done, snoozed).

    A person's conversation spans all their numbers. The summary (``last_message`` … ``flagged``) is
    written in the transaction that writes a text, by ``messaging.services.conversation_touch``, so
    the inbox and the unread count read one row per person and never the texts themselves
    (docs/ARCHITECTURE.md "Conversations"). A person without a row has no texts, no assignee and
    has never been read.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    lead = models.OneToOneField(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="conversation")
    customer = models.OneToOneField(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="conversation"
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The newest text an agent has seen in the open panel; replies after it are unread.
    read_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # --- the summary of the person's texts (each the newest by ``created_at``, then ``id``) -------------
    last_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False, db_constraint=False
    )
    last_at = models.DateTimeField(null=True, blank=True)
    # The newest reply: the unread badge's "a reply arrived" and the inbox's reply-on-this-number.
    last_inbound = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False, db_constraint=False
    )
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # The newest text an agent wrote (``sent_by`` set): an answer. Workflows' automatic texts are not.
    answered_at = models.DateTimeField(null=True, blank=True)
    # A reply no agent has read or answered since (``unread_state``), or an agent marked it unread.
    unread = models.BooleanField(default=False)
    marked_unread = models.BooleanField(default=False)
    # Waiting on us: the newest reply came after the newest answer.
    waiting = models.BooleanField(default=False)
    # A reply asking in plain words not to be texted still waits for an agent (``inbound_flagged``).
    flagged = models.BooleanField(default=False)
    # --- what agents did with it -----------------------------------------------------------------------
    done_at = models.DateTimeField(null=True, blank=True)
    # Out of the list until then (a query-time check brings it back); a new reply brings it back at once.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(lead__isnull=False) & Q(customer__isnull=True))
                | (Q(lead__isnull=True) & Q(customer__isnull=False)),
                name="conversation_has_exactly_one_owner",
            )
        ]
        # Each serves one inbox query (docs/ARCHITECTURE.md "Conversations"); the open list is read
        # in ``-unread, -last_at`` order from these, never sorted from the whole organization.
        indexes = [
            # "All" and "Unassigned"/"Mine" (assigned_to is NULL / the agent): open conversations, unread first.
            models.Index(
                fields=["organization", "unread", "last_at"],
                condition=Q(last_at__isnull=False, done_at__isnull=True),
                name="conversation_open",
            ),
            models.Index(
                fields=["organization", "assigned_to", "unread", "last_at"],
                condition=Q(last_at__isnull=False, done_at__isnull=True),
                name="conversation_open_assignee",
            ),
            # "Waiting on us": the newest text of the conversation is a reply nobody answered.
            models.Index(
                fields=["organization", "last_at"],
                condition=Q(waiting=True, done_at__isnull=True),
                name="conversation_waiting",
            ),
            # "Stop requests": an open plain-words request to stop texting.
            models.Index(fields=["organization", "last_at"], condition=Q(flagged=True), name="conversation_flagged"),
            # "Done", newest first; "Snoozed", the soonest back first.
            models.Index(
                fields=["organization", "done_at"], condition=Q(done_at__isnull=False), name="conversation_done"
            ),
            models.Index(
                fields=["organization", "snoozed_until"],
                condition=Q(snoozed_until__isnull=False, done_at__isnull=True),
                name="conversation_snoozed",
            ),
            # The header's unread count (the newest 100 of these rows at most) …
            models.Index(
                fields=["organization", "last_inbound_at"], condition=Q(unread=True), name="conversation_unread"
            ),
            # … and its "a reply arrived": the organization's newest reply.
            models.Index(
                fields=["organization", "last_inbound_at"],
                condition=Q(last_inbound_at__isnull=False),
                name="conversation_last_inbound",
            ),
            # Deleting a text (retention) empties the summaries that point at it through these.
            models.Index(fields=["last_message"], name="conversation_last_message"),
            models.Index(fields=["last_inbound"], name="conversation_last_inbound_msg"),
        ]

    def __str__(self) -> str:
        return f"Conversation with {self.owner}"

    @property
    def owner(self) -> Lead | Customer:
        owner = self.lead if self.lead_id else self.customer
        assert owner is not None  # conversation_has_exactly_one_owner
        return owner

    def unread_state(self) -> bool:
        """Whether a reply waits unread: marked so, or newer than the last read and the last answer."""
        if self.marked_unread:
            return True
        seen = max((t for t in (self.read_at, self.answered_at) if t is not None), default=None)
        return self.last_inbound_at is not None and (seen is None or self.last_inbound_at > seen)

    def waiting_state(self) -> bool:
        """Whether the newest reply came after the newest answer (or nobody answered)."""
        return self.last_inbound_at is not None and (
            self.answered_at is None or self.last_inbound_at > self.answered_at
        )


class ConversationNote(models.Model):
    """An agent's note on a person's conversation, for the team: shown in the thread, never texted.

    Append-only like the rest of the record (no one edits or deletes a note); who wrote it is kept as
    named at the time (``author_name``), beside the account.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    author_name = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(lead__isnull=False) & Q(customer__isnull=True))
                | (Q(lead__isnull=True) & Q(customer__isnull=False)),
                name="conversation_note_has_one_owner",
            )
        ]
        indexes = [
            # A person's thread shows their latest notes among the texts.
            models.Index(fields=["lead", "created_at"], name="conversation_note_lead"),
            models.Index(fields=["customer", "created_at"], name="conversation_note_customer"),
            # The admin's list, newest first, in the organization.
            models.Index(fields=["organization", "id"], name="conversation_note_org_id"),
            # Deleting a user empties ``author`` through this.
            models.Index(fields=["author"], name="conversation_note_author"),
        ]

    def __str__(self) -> str:
        return f"Note by {self.author_name or 'an agent'}"
