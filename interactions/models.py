"""Tenancy, CRM records, phone numbers, the consent ledger and interaction history."""

from __future__ import annotations

import zoneinfo
from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from phonenumber_field.modelfields import PhoneNumberField


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not an IANA time zone such as America/Chicago.")


class Organization(models.Model):
    """A self-storage operator: the tenant every other row belongs to."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    # Quiet hours, in the recipient's local time: texts go out only between these.
    quiet_hours_start = models.TimeField(default=time(8, 0))
    quiet_hours_end = models.TimeField(default=time(21, 0))
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

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True)
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

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

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
        indexes = [models.Index(fields=["organization", "updated_at"])]

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
        indexes = [models.Index(fields=["organization", "updated_at"])]

    def get_absolute_url(self) -> str:
        return reverse("customer_card", args=[self.pk])

    @property
    def status(self) -> str:
        return "Balance due" if self.balance_due > 0 else "Current"


class PhoneNumber(models.Model):
    """A number saved on exactly one lead or customer. Consent is tracked per number, not here."""

    class Label(models.TextChoices):
        MOBILE = "mobile", "Mobile"
        HOME = "home", "Home"
        WORK = "work", "Work"
        OTHER = "other", "Other"

    class Source(models.TextChoices):
        PMS = "pms", "Property management system"
        LOCAL = "local", "Added here (not sent to the PMS)"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="phone_numbers")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="phone_numbers"
    )
    number = PhoneNumberField()
    label = models.CharField(max_length=16, choices=Label.choices, default=Label.MOBILE)
    is_primary = models.BooleanField(default=False)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.LOCAL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_primary", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(lead__isnull=False) & Q(customer__isnull=True))
                | (Q(lead__isnull=True) & Q(customer__isnull=False)),
                name="phone_number_has_exactly_one_owner",
            ),
            models.UniqueConstraint(fields=["lead", "number"], name="phone_number_unique_per_lead"),
            models.UniqueConstraint(fields=["customer", "number"], name="phone_number_unique_per_customer"),
            models.UniqueConstraint(
                fields=["lead"], condition=Q(is_primary=True), name="one_primary_phone_number_per_lead"
            ),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="one_primary_phone_number_per_customer"
            ),
        ]
        indexes = [models.Index(fields=["organization", "number"])]

    def __str__(self) -> str:
        return f"{self.e164} ({self.get_label_display()})"

    @property
    def e164(self) -> str:
        return self.number.as_e164 if self.number else ""

    @property
    def owner(self) -> Lead | Customer:
        return self.lead if self.lead_id else self.customer

    @property
    def national(self) -> str:
        return self.number.as_national if self.number else ""


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
        UNSUBSCRIBE_LINK = "unsubscribe_link", "Unsubscribe link"
        CARRIER = "carrier", "Carrier (unsubscribed number)"

    # A revoke from one of these was the person's own doing: only their START undoes it.
    PERSON_OPT_OUT_SOURCES = frozenset({Source.SMS_KEYWORD, Source.UNSUBSCRIBE_LINK, Source.CARRIER})
    # DESIGN rule 2: which sources may grant and which may revoke.
    GRANT_SOURCES = frozenset({Source.AGENT, Source.API, Source.WEB_FORM, Source.PMS_IMPORT, Source.SMS_KEYWORD})
    REVOKE_SOURCES = frozenset({Source.SMS_KEYWORD, Source.UNSUBSCRIBE_LINK, Source.CARRIER, Source.AGENT, Source.API})

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


class History(models.Model):
    """A past interaction with a lead or customer; one History card shows one of these."""

    class Kind(models.TextChoices):
        CALL = "call", "Call"
        TEXT = "text", "Text"
        NOTE = "note", "Note"
        CONSENT = "consent", "Consent change"

    # History is evidence: nothing it points at can be deleted from under it (PROTECT).
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.PROTECT, related_name="history")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="history")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    occurred_at = models.DateTimeField(db_index=True)
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # The agent as named at the time: it outlives the user account (``agent`` empties when one is deleted).
    actor_name = models.CharField(max_length=300, blank=True)
    summary = models.TextField()
    phone_number = models.ForeignKey(PhoneNumber, null=True, blank=True, on_delete=models.PROTECT)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name_plural = "history"
        # A card reads a person's latest entries: with these it reads 51 rows, not the whole history
        # sorted (bench/: 10 → 1 ms for the history query of a person with 10,000 entries).
        indexes = [
            models.Index(fields=["lead", "-occurred_at", "-id"], name="history_lead_latest"),
            models.Index(fields=["customer", "-occurred_at", "-id"], name="history_customer_latest"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(lead__isnull=False) & Q(customer__isnull=True))
                | (Q(lead__isnull=True) & Q(customer__isnull=False)),
                name="history_has_exactly_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.occurred_at:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("history_card", args=[self.pk])

    @property
    def owner(self) -> Lead | Customer:
        return self.lead if self.lead_id else self.customer


# --- follow-up workflows and the outstanding list -------------------------------------------


class Workflow(models.Model):
    """A manager's plan of texts and calls after an event: a new lead, or a balance falling due."""

    class Kind(models.TextChoices):
        COLLECTION = "collection", "Collection"
        LEAD_FOLLOW_UP = "lead_follow_up", "Lead follow-up"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="workflows")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=120)
    active = models.BooleanField(
        default=True, help_text="Switched off: no new enrollments, and steps of current enrollments wait."
    )
    is_default = models.BooleanField(
        "default",
        default=False,
        help_text="New leads (lead follow-up) or customers whose balance falls due (collection) join the "
        "default workflow of that kind automatically. Making this the default replaces the previous one.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="workflow_name_unique_per_org"),
            models.UniqueConstraint(
                fields=["organization", "kind"], condition=Q(is_default=True), name="one_default_workflow_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def owner_kind(self) -> str:
        """Who can be enrolled: leads in lead follow-up, customers in collection."""
        return "lead" if self.kind == self.Kind.LEAD_FOLLOW_UP else "customer"


class WorkflowStep(models.Model):
    """One step: on day ``day_offset`` after enrollment, at ``time_of_day`` in the facility's time zone."""

    class Action(models.TextChoices):
        MANUAL_TEXT = "manual_text", "Manual text (agent sends)"
        AUTOMATIC_TEXT = "automatic_text", "Automatic text"
        CALL_REMINDER = "call_reminder", "Call reminder"

    TEXT_ACTIONS = frozenset({Action.MANUAL_TEXT, Action.AUTOMATIC_TEXT})

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    day_offset = models.PositiveSmallIntegerField("day", help_text="Days after enrollment; 0 is the day itself.")
    time_of_day = models.TimeField(help_text="In the facility's time zone.")
    action = models.CharField(max_length=16, choices=Action.choices)
    # By string: interactions never imports messaging.
    template = models.ForeignKey(
        "messaging.MessageTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="workflow_steps",
        help_text="Required for texts; for a call reminder, an optional script.",
    )
    instructions = models.CharField(max_length=300, blank=True, help_text="Shown to the agent on the task.")

    class Meta:
        ordering = ["day_offset", "time_of_day", "id"]

    def __str__(self) -> str:
        return f"Day {self.day_offset} at {self.time_of_day:%H:%M}: {self.get_action_display()}"

    def clean(self) -> None:
        if self.action in self.TEXT_ACTIONS and not self.template_id:
            raise ValidationError({"template": "Pick the template this text sends."})
        workflow = getattr(self, "workflow", None)  # unset while the admin validates a new workflow
        if self.template_id and workflow and workflow.organization_id not in (None, self.template.organization_id):
            raise ValidationError({"template": "This template belongs to another organization."})


class Enrollment(models.Model):
    """A lead or customer going through a workflow; ``next_step``/``next_due_at`` say what comes next."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"

    class Source(models.TextChoices):
        AGENT = "agent", "Agent"
        API = "api", "API"
        AUTOMATIC = "automatic", "Automatic"

    class EndReason(models.TextChoices):
        COMPLETED = "completed", "All steps done"
        CONVERTED = "converted", "Lead converted"
        LOST = "lost", "Lead lost"
        PAID = "paid", "Balance paid"
        OPTED_OUT = "opted_out", "Opted out of texts"
        STOPPED = "stopped", "Stopped by an agent"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="enrollments")
    workflow = models.ForeignKey(Workflow, on_delete=models.PROTECT, related_name="enrollments")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="enrollments")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="enrollments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=16, choices=Source.choices)
    started_at = models.DateTimeField(help_text="Day offsets count from this moment's date.")
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_step = models.ForeignKey(WorkflowStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    next_due_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(lead__isnull=False) & Q(customer__isnull=True))
                | (Q(lead__isnull=True) & Q(customer__isnull=False)),
                name="enrollment_has_exactly_one_owner",
            ),
            models.UniqueConstraint(
                fields=["lead"], condition=Q(status="active"), name="one_active_enrollment_per_lead"
            ),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(status="active"), name="one_active_enrollment_per_customer"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_due_at"])]

    def __str__(self) -> str:
        return f"{self.owner} in {self.workflow}"

    @property
    def owner(self) -> Lead | Customer:
        return self.lead if self.lead_id else self.customer

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class StepRun(models.Model):
    """What happened when one step came due for one enrollment. One row per enrollment and step, ever."""

    class Outcome(models.TextChoices):
        TEXT_QUEUED = "text_queued", "Text sent"
        TEXT_SCHEDULED = "text_scheduled", "Text held until texting hours"
        TEXT_REFUSED = "text_refused", "Text not sent"
        TASK_CREATED = "task_created", "Task created"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="step_runs")
    # Kept (step emptied) when a manager deletes the step later: the record of what happened stays.
    step = models.ForeignKey(WorkflowStep, null=True, on_delete=models.SET_NULL, related_name="runs")
    due_at = models.DateTimeField()
    ran_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Why an automatic text was refused or held (no_consent, opted_out, quiet_hours…), in plain words.
    refusal_code = models.CharField(max_length=32, blank=True)
    refusal_detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="one_run_per_enrollment_step")]

    def __str__(self) -> str:
        return f"{self.step} → {self.get_outcome_display()}"


class Task(models.Model):
    """Work for an agent from a workflow step: a text to send by hand, or a call to make."""

    class Kind(models.TextChoices):
        MANUAL_TEXT = "manual_text", "Manual text"
        CALL_REMINDER = "call_reminder", "Call reminder"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    due_at = models.DateTimeField()
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="tasks")
    step = models.ForeignKey(WorkflowStep, null=True, on_delete=models.SET_NULL, related_name="tasks")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks")
    skip_reason = models.CharField(max_length=300, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey("messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(lead__isnull=False) & Q(customer__isnull=True))
                | (Q(lead__isnull=True) & Q(customer__isnull=False)),
                name="task_has_exactly_one_owner",
            ),
            models.UniqueConstraint(fields=["enrollment", "step"], name="one_task_per_enrollment_step"),
        ]
        indexes = [models.Index(fields=["organization", "status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.owner} ({self.status})"

    @property
    def owner(self) -> Lead | Customer:
        return self.lead if self.lead_id else self.customer

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
