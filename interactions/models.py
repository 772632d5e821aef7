"""Tenancy, CRM records, phone numbers, the consent ledger and interaction history."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from phonenumber_field.modelfields import PhoneNumberField

from core.phonenumbers import readable
from core.search import SearchIndex, trigram_index


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not an IANA time zone such as America/Chicago.")


class Organization(models.Model):
    """A self-storage operator: the tenant every other row belongs to."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    # The organization's own texting window, in the recipient's local time. It can only tighten the
    # law's (messaging/compliance/jurisdictions.py): both apply to every text.
    quiet_hours_start = models.TimeField(
        default=time(8, 0),
        help_text="Texts go out from this time (recipient's local time) — and never before the law allows.",
    )
    quiet_hours_end = models.TimeField(
        default=time(21, 0), help_text="…until this time, and never after the law allows (e.g. 8:00 PM in Florida)."
    )
    help_text = models.CharField(
        max_length=320,
        blank=True,
        help_text="Reply to HELP/INFO. Defaults to the organization's name and how to opt out.",
    )
    # Inbound texts reach an organization through the receiving number (a facility's sender
    # number) or, for a messaging-service setup, through the service they were sent to.
    twilio_messaging_service_sid = models.CharField(
        "Twilio messaging service SID",
        max_length=34,
        blank=True,
        help_text="This organization's own Twilio messaging service (MG…), if it has one: replies to it are "
        "filed here. Blank: the install-wide service, if any, is shared.",
    )
    # The organization's own cap (texts to one number per rolling 24 hours); the law's caps apply anyway.
    daily_text_cap = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="At most this many texts to one number in 24 hours (blank: only the law's caps, e.g. Florida's 3).",
    )
    opt_out_confirmation_text = models.CharField(
        max_length=160,
        blank=True,
        help_text="The one text sent after someone opts out. Blank: “<organization>: You're unsubscribed and won't "
        "get more texts. Reply START to resubscribe.” No offers: the FCC allows a confirmation only.",
    )
    # On by default: Twilio's default opt-out handling answers STOP on US and Canadian long codes and
    # toll-free numbers (https://help.twilio.com/articles/223134027), so a confirmation of ours would
    # be the second one. Untick only where that reply is turned off (Advanced Opt-Out without one).
    twilio_replies_to_stop = models.BooleanField(
        "Twilio answers STOP itself",
        default=True,
        help_text="Ticked: Twilio's opt-out handling (default, or Advanced Opt-Out) already replies to STOP on "
        "your numbers, so a keyword opt-out gets no second confirmation from Textdesk. Untick only if you "
        "turned Twilio's STOP reply off.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["twilio_messaging_service_sid"],
                condition=~Q(twilio_messaging_service_sid=""),
                name="messaging_service_sid_unique",
                violation_error_message="This messaging service already belongs to another organization.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.quiet_hours_start and self.quiet_hours_end and self.quiet_hours_start >= self.quiet_hours_end:
            raise ValidationError({"quiet_hours_end": "The end of the sending window must be after its start."})

    @property
    def help_reply(self) -> str:
        return self.help_text or f"{self.name}: texts about your storage. Reply STOP to opt out, START to opt back in."

    @property
    def opt_out_confirmation(self) -> str:
        return (
            self.opt_out_confirmation_text
            or f"{self.name}: You're unsubscribed and won't get more texts. Reply START to resubscribe."
        )


class Facility(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="facilities")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    time_zone = models.CharField(max_length=64, default="America/Chicago", validators=[validate_time_zone])
    phone = PhoneNumberField(blank=True, help_text="The facility's phone number, shown to customers.")
    sms_sender_number = PhoneNumberField(
        blank=True,
        help_text="Twilio number texts are sent from; it belongs to this facility alone, across every "
        "organization, so replies to it are filed here. Blank: the messaging service is used.",
    )

    class Registration(models.TextChoices):
        # Until a manager records it or the carrier refuses a text for it, nothing is refused: an
        # install upgrading must not have every send stopped at once (SENDER_REGISTRATION_REQUIRED).
        NOT_RECORDED = "not_recorded", "Not recorded"
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        FAILED = "failed", "Failed or rejected"
        UNREGISTERED = "unregistered", "Unregistered"

    # The registration of the sender this facility texts from (its number, or the messaging service).
    sender_registration = models.CharField(
        "sender registration",
        max_length=16,
        choices=Registration.choices,
        default=Registration.NOT_RECORDED,
        help_text="US carriers block texts from long codes not registered for A2P 10DLC and from unverified "
        "toll-free numbers. Failed or unregistered: every text from this facility is refused.",
    )
    sender_brand_id = models.CharField("10DLC brand id", max_length=40, blank=True, help_text="BN…")
    sender_campaign_id = models.CharField("10DLC campaign id", max_length=40, blank=True, help_text="CM… or QE…")
    sender_toll_free_verification_id = models.CharField(
        "toll-free verification id", max_length=40, blank=True, help_text="HH… (toll-free senders)"
    )
    # Set when the carrier refused a text because the sender is not registered or verified (30032/30034).
    sender_flagged_at = models.DateTimeField("sender flagged at", null=True, blank=True)
    sender_flag_reason = models.CharField("why the sender is flagged", max_length=300, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "facilities"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="facility_name_unique_per_org"),
            # Inbound texts are routed by the number they were sent to: one number, one facility.
            models.UniqueConstraint(
                fields=["sms_sender_number"],
                condition=~Q(sms_sender_number=""),
                name="facility_sender_number_unique",
                violation_error_message="This sender number is already used by another facility; "
                "a number belongs to one facility only.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    REFUSED_REGISTRATIONS = frozenset({Registration.FAILED, Registration.UNREGISTERED})

    @property
    def sender_refusal(self) -> str:
        """Why texts from this facility are refused (its sender is not registered), or ``""``."""
        refused = set(self.REFUSED_REGISTRATIONS)
        if getattr(settings, "SENDER_REGISTRATION_REQUIRED", False):
            refused |= {self.Registration.NOT_RECORDED, self.Registration.PENDING}
        if self.sender_registration not in refused:
            return ""
        why = self.sender_flag_reason or f"its sender registration is “{self.get_sender_registration_display()}”"
        return (
            f"Texts from {self.name} are stopped: {why.rstrip('.')}. A manager must register the sender "
            "(10DLC brand and campaign, or toll-free verification) and mark it approved in admin."
        )


class Membership(models.Model):
    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        MANAGER = "manager", "Manager"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.organization})"

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


class Person(models.Model):
    """What a lead and a customer share: the organization, the facility, the name."""

    # Indexes are named in each model's Meta with the query they serve (docs/ARCHITECTURE.md "Indexes").
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, db_index=False)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
    # Where the person lives, when known: the state's texting law applies (messaging/compliance).
    state = models.CharField(max_length=2, blank=True, help_text="Two-letter US state of the address, e.g. FL.")
    postal_code = models.CharField("ZIP code", max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # People are archived, never deleted: their numbers, history and consent ledger stay as evidence.
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    kind: str = ""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def clean(self) -> None:
        if self.facility_id and self.organization_id and self.facility.organization_id != self.organization_id:
            raise ValidationError({"facility": "This facility belongs to another organization."})


class Lead(Person):
    class Status(models.TextChoices):
        NEW = "new", "New"
        CONTACTED = "contacted", "Contacted"
        RESERVED = "reserved", "Reserved"
        CONVERTED = "converted", "Converted"
        LOST = "lost", "Lost"

    email = models.EmailField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    source = models.CharField(max_length=100, blank=True, help_text="Where the lead came from: web, phone, walk-in…")

    kind = "lead"

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The home list and its search, newest activity first; the API's ``?ordering=updated_at``.
            models.Index(fields=["organization", "updated_at"], name="lead_org_updated"),
            # The API's list and its cursor pages (``ordering=id``).
            models.Index(fields=["organization", "id"], name="lead_org_id"),
            # A facility can't be deleted while it has leads (PROTECT): the check reads this.
            models.Index(fields=["facility"], name="lead_facility"),
            # Name fragments in the home and inbox searches (``icontains``: ILIKE '%…%').
            trigram_index(field="first_name", name="lead_first_name_trgm"),
            trigram_index(field="last_name", name="lead_last_name_trgm"),
        ]

    def get_absolute_url(self) -> str:
        return reverse("lead_card", args=[self.pk])


class Customer(Person):
    pms_id = models.CharField("PMS id", max_length=64)
    unit = models.CharField(max_length=32, blank=True)
    balance_due = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0.00"))

    kind = "customer"

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "pms_id"], name="customer_pms_id_unique_per_facility")
        ]
        indexes = [
            # The home list and its search, newest activity first; the API's ``?ordering=updated_at``.
            models.Index(fields=["organization", "updated_at"], name="customer_org_updated"),
            # The API's list and its cursor pages (``ordering=id``).
            models.Index(fields=["organization", "id"], name="customer_org_id"),
            # (facility, pms_id) is unique: the PMS import's lookup and the facility's PROTECT check.
            # Name fragments in the home and inbox searches (``icontains``: ILIKE '%…%').
            trigram_index(field="first_name", name="customer_first_name_trgm"),
            trigram_index(field="last_name", name="customer_last_name_trgm"),
        ]

    def get_absolute_url(self) -> str:
        return reverse("customer_card", args=[self.pk])

    @property
    def status(self) -> str:
        return "Balance due" if self.balance_due > 0 else "Current"


class OwnedByLeadOrCustomer(models.Model):
    """A row about exactly one lead or one customer: phone numbers, history, enrollments, tasks.

    Each model declares its own ``lead``/``customer`` foreign keys (their reverse names differ) and
    puts ``owner_constraint(name)`` in its ``Meta.constraints``, so the database refuses a row with
    both or neither.
    """

    if TYPE_CHECKING:  # declared by each model
        lead: Lead | None
        lead_id: int | None
        customer: Customer | None
        customer_id: int | None

    class Meta:
        abstract = True

    @property
    def owner(self) -> Lead | Customer:
        owner = self.lead if self.lead_id else self.customer
        assert owner is not None  # the owner constraint: exactly one of the two
        return owner

    @staticmethod
    def owner_constraint(name: str) -> models.CheckConstraint:
        return models.CheckConstraint(
            condition=(Q(lead__isnull=False) & Q(customer__isnull=True))
            | (Q(lead__isnull=True) & Q(customer__isnull=False)),
            name=name,
        )


Owner = Lead | Customer


def owner_kwargs(owner: Owner) -> dict[str, Owner]:
    """The filter/create keyword that points at ``owner``: ``{"lead": …}`` or ``{"customer": …}``."""
    return {"lead": owner} if isinstance(owner, Lead) else {"customer": owner}


class PhoneNumber(OwnedByLeadOrCustomer):
    """A number saved on exactly one lead or customer. Consent is tracked per number, not here."""

    class Label(models.TextChoices):
        MOBILE = "mobile", "Mobile"
        HOME = "home", "Home"
        WORK = "work", "Work"
        OTHER = "other", "Other"

    class Source(models.TextChoices):
        PMS = "pms", "Property management system"
        LOCAL = "local", "Added here (not sent to the PMS)"

    class LineType(models.TextChoices):
        # The provider-neutral names of messaging/backends/base.py LINE_TYPES.
        MOBILE = "mobile", "mobile"
        LANDLINE = "landline", "landline"
        FIXED_VOIP = "fixed_voip", "fixed VoIP line"
        NON_FIXED_VOIP = "non_fixed_voip", "VoIP line"
        TOLL_FREE = "toll_free", "toll-free number"
        PERSONAL = "personal", "personal number"
        PAGER = "pager", "pager"
        VOICEMAIL = "voicemail", "voicemail-only number"
        UNKNOWN = "unknown", "line of unknown type"

    # Lines that cannot receive texts. Fixed VoIP often can (many are SMS-enabled): it stays
    # textable until the carrier says otherwise (30006 marks it).
    NOT_TEXTABLE_LINES = frozenset({LineType.LANDLINE, LineType.PAGER, LineType.VOICEMAIL})

    # Indexes are named in Meta with the query they serve; the owner's are the unique constraints'.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="phone_numbers", db_index=False
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="phone_numbers", db_index=False
    )
    number = PhoneNumberField()
    label = models.CharField(max_length=16, choices=Label.choices, default=Label.MOBILE)
    is_primary = models.BooleanField(default=False)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.LOCAL)
    # What a line-type lookup found (blank: not looked up yet), from which carrier, when, and whether
    # it was the demo stand-in (console backend) rather than the provider.
    line_type = models.CharField(max_length=16, choices=LineType.choices, blank=True)
    line_type_carrier = models.CharField(max_length=120, blank=True)
    line_type_checked_at = models.DateTimeField(null=True, blank=True)
    line_type_demo = models.BooleanField(default=False)
    # Set when the carrier said the number cannot get texts (unknown, landline, unreachable for days).
    not_textable_at = models.DateTimeField(null=True, blank=True)
    not_textable_reason = models.CharField(max_length=300, blank=True)
    # When someone last confirmed the number is still the person's (an agent, or a reply from it).
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_primary", "created_at"]
        constraints = [
            OwnedByLeadOrCustomer.owner_constraint("phone_number_has_exactly_one_owner"),
            models.UniqueConstraint(fields=["lead", "number"], name="phone_number_unique_per_lead"),
            models.UniqueConstraint(fields=["customer", "number"], name="phone_number_unique_per_customer"),
            models.UniqueConstraint(
                fields=["lead"], condition=Q(is_primary=True), name="one_primary_phone_number_per_lead"
            ),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="one_primary_phone_number_per_customer"
            ),
        ]
        # (lead, number) and (customer, number) are unique: they serve a person's numbers.
        indexes = [
            # Who holds a number in the organization: consent changes, replies, the API's ``?number=``.
            models.Index(fields=["organization", "number"], name="phone_number_org_number"),
            # The API's list and its cursor pages (``ordering=id``).
            models.Index(fields=["organization", "id"], name="phone_number_org_id"),
            # Which organizations hold a number that texted in (``inbound_organization``).
            models.Index(fields=["number"], name="phone_number_number"),
            # Number fragments in the home and inbox searches (``contains``: LIKE '%digits%'; E.164 is
            # "+" and digits, so the digits a person types are a substring of it).
            SearchIndex(fields=["number"], name="phone_number_number_trgm", opclasses=["gin_trgm_ops"]),
            # Numbers waiting for their line-type lookup (``lookup_line_types_pending``).
            models.Index(
                fields=["created_at"], condition=Q(line_type_checked_at__isnull=True), name="phone_number_lookup_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.e164} ({self.get_label_display()})"

    @property
    def e164(self) -> str:
        return self.number.as_e164 if self.number else ""

    @property
    def national(self) -> str:
        """How agents read the number: (512) 555-0142 at home, +49 1520 5550125 abroad
        (``core.phonenumbers.readable``, which every message naming a number uses)."""
        return readable(self.number)

    @property
    def not_textable(self) -> str:
        """Why this number cannot get texts at all (whoever sends), in plain words, or ``""``."""
        if self.not_textable_at:
            return (
                f"{self.national} can’t get texts: {self.not_textable_reason.rstrip('.')}. Call it, or text "
                "another number on the record."
            )
        if self.line_type in self.NOT_TEXTABLE_LINES:
            demo = " (demo lookup)" if self.line_type_demo else ""
            return (
                f"{self.national} is a {self.get_line_type_display()}{demo} and can’t receive texts. Call it, or "
                "text another number on the record."
            )
        return ""

    @property
    def last_confirmed_at(self) -> datetime:
        """When the number was last known to be the person's: confirmed, or else added."""
        return self.confirmed_at or self.created_at


class ConsentEvent(models.Model):
    """One entry of the append-only consent ledger for a number within an organization."""

    class Action(models.TextChoices):
        GRANT = "grant", "Granted"
        REVOKE = "revoke", "Revoked"

    class Source(models.TextChoices):
        AGENT = "agent", "Agent (verbal)"
        API = "api", "API"
        WEB_FORM = "web_form", "Web form"
        PMS_IMPORT = "pms_import", "PMS import"
        SMS_KEYWORD = "sms_keyword", "Text keyword (STOP/START)"
        SMS_WORDS = "sms_words", "Text in plain words (“stop texting me”)"
        UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
        CARRIER = "carrier", "Carrier (unsubscribed number)"

    # A revoke from one of these was the person's own doing: only their START undoes it.
    PERSON_OPT_OUT_SOURCES = frozenset({Source.SMS_KEYWORD, Source.SMS_WORDS, Source.UNSUBSCRIBE_LINK, Source.CARRIER})
    # docs/ARCHITECTURE.md rule 2: which sources may grant and which may revoke.
    GRANT_SOURCES = frozenset({Source.AGENT, Source.API, Source.WEB_FORM, Source.PMS_IMPORT, Source.SMS_KEYWORD})
    REVOKE_SOURCES = frozenset(
        {Source.SMS_KEYWORD, Source.SMS_WORDS, Source.UNSUBSCRIBE_LINK, Source.CARRIER, Source.AGENT, Source.API}
    )
    # The revocations the person asked for, which get the one confirmation text (FCC 24-24): not the
    # carrier's word (the number cannot be texted) nor an integrator's (it confirms in its own channel).
    CONFIRMED_SOURCES = frozenset({Source.SMS_KEYWORD, Source.SMS_WORDS, Source.UNSUBSCRIBE_LINK, Source.AGENT})

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="consent_events")
    number = PhoneNumberField(db_index=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    source = models.CharField(max_length=20, choices=Source.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Who acted, as named at the time: it outlives the user account (``actor`` empties when one is deleted).
    actor_name = models.CharField(max_length=300, blank=True)
    evidence = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.number} {self.action} via {self.source}"

    @property
    def is_person_opt_out(self) -> bool:
        return self.action == self.Action.REVOKE and self.source in self.PERSON_OPT_OUT_SOURCES


class Consent(models.Model):
    """The current consent state of a number, kept in step with the ledger in one transaction."""

    class Status(models.TextChoices):
        GRANTED = "granted", "Granted"
        REVOKED = "revoked", "Revoked"
        NONE = "none", "No permission recorded"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="consents")
    number = PhoneNumberField()
    status = models.CharField(max_length=8, choices=Status.choices)
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+")
    # Set while the person's own opt-out (STOP, link, carrier) is in force.
    person_opted_out_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "number"], name="consent_unique_per_number")]

    def __str__(self) -> str:
        return f"{self.number}: {self.status}"

    @property
    def is_granted(self) -> bool:
        return self.status == self.Status.GRANTED


class History(OwnedByLeadOrCustomer):
    """A past interaction with a lead or customer; one History card shows one of these."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        TEXT = "text", "Text"
        NOTE = "note", "Note"
        CONSENT = "consent", "Consent change"

    # History is evidence: nothing it points at can be deleted from under it (PROTECT).
    # Indexes are named in Meta with the query they serve (docs/ARCHITECTURE.md "Indexes").
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, db_index=False)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="history", db_index=False
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="history", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    occurred_at = models.DateTimeField()
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    # The agent as named at the time: it outlives the user account (``agent`` empties when one is deleted).
    actor_name = models.CharField(max_length=300, blank=True)
    summary = models.TextField()
    phone_number = models.ForeignKey(PhoneNumber, null=True, blank=True, on_delete=models.PROTECT, db_index=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "history"
        # A card reads a person's latest entries: with these it reads 51 rows, not the whole history
        # sorted (bench/: 10 → 1 ms for the history query of a person with 10,000 entries).
        indexes = [
            models.Index(fields=["lead", "-occurred_at", "-id"], name="history_lead_latest"),
            models.Index(fields=["customer", "-occurred_at", "-id"], name="history_customer_latest"),
            # An organization's history by id: the admin's list and a card's ``/history/<id>/``
            # in the organization; deleting an organization checks it (PROTECT).
            models.Index(fields=["organization", "id"], name="history_org_id"),
            # A number can't be deleted while history names it (PROTECT); the phone menu checks.
            models.Index(fields=["phone_number"], name="history_phone_number"),
            # Deleting a user empties ``agent`` on their entries (SET_NULL).
            models.Index(fields=["agent"], name="history_agent"),
        ]
        constraints = [
            OwnedByLeadOrCustomer.owner_constraint("history_has_exactly_one_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.occurred_at:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("history_card", args=[self.pk])
