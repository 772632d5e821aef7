"""Follow-up workflows: a manager's steps, who is enrolled, what each due step did, agents' tasks.

The tables keep their first names (``interactions_workflow``…): the models moved here from
``interactions`` without moving any data (migrations 0006 there and 0001 here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from interactions.models import Customer, Lead, Organization, OwnedByLeadOrCustomer


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
    updated_at = models.DateTimeField(auto_now=True)  # the API's updated_since and cursor

    class Meta:
        db_table = "interactions_workflow"
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

    # Whose step it is, as on its workflow: the column a sharded database distributes by (docs/SCALE.md
    # "Past one database"). No index of its own: every read comes through the workflow.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    day_offset = models.PositiveSmallIntegerField("day", help_text="Days after enrollment; 0 is the day itself.")
    time_of_day = models.TimeField(help_text="In the facility's time zone.")
    action = models.CharField(max_length=16, choices=Action.choices)
    # By string: the models load without importing messaging's.
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
        db_table = "interactions_workflowstep"
        ordering = ["day_offset", "time_of_day", "id"]

    def __str__(self) -> str:
        return f"Day {self.day_offset} at {self.time_of_day:%H:%M}: {self.get_action_display()}"

    def clean(self) -> None:
        if self.action in self.TEXT_ACTIONS and not self.template_id:
            raise ValidationError({"template": "Pick the template this text sends."})
        workflow = getattr(self, "workflow", None)  # unset while the admin validates a new workflow
        if (
            self.template_id
            and workflow
            and self.template
            and workflow.organization_id not in (None, self.template.organization_id)
        ):
            raise ValidationError({"template": "This template belongs to another organization."})


class Enrollment(OwnedByLeadOrCustomer):
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
    updated_at = models.DateTimeField(auto_now=True)  # the API's updated_since and cursor

    class Meta:
        db_table = "interactions_enrollment"
        ordering = ["-started_at", "-id"]
        constraints = [
            OwnedByLeadOrCustomer.owner_constraint("enrollment_has_exactly_one_owner"),
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
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class StepRun(models.Model):
    """What happened when one step came due for one enrollment. One row per enrollment and step, ever."""

    class Outcome(models.TextChoices):
        TEXT_QUEUED = "text_queued", "Text sent"
        TEXT_SCHEDULED = "text_scheduled", "Text held until texting hours"
        TEXT_REFUSED = "text_refused", "Text not sent"
        TASK_CREATED = "task_created", "Task created"

    # Whose run it is, as on its enrollment (docs/SCALE.md "Past one database"). No index of its own: every
    # read comes through the enrollment.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="step_runs")
    # Kept (step emptied) when a manager deletes the step later: the record of what happened stays.
    step = models.ForeignKey(WorkflowStep, null=True, on_delete=models.SET_NULL, related_name="runs")
    due_at = models.DateTimeField()
    ran_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    # No database constraint: texts are partitioned by month (messaging.partitions).
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    # Why an automatic text was refused or held (no_consent, opted_out, quiet_hours…), in plain words.
    refusal_code = models.CharField(max_length=32, blank=True)
    refusal_detail = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "interactions_steprun"
        ordering = ["due_at", "id"]
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="one_run_per_enrollment_step")]

    def __str__(self) -> str:
        return f"{self.step} → {self.get_outcome_display()}"


class Task(OwnedByLeadOrCustomer):
    """Work for an agent from a workflow step: a text to send by hand, or a call to make."""

    if TYPE_CHECKING:  # set for display by workflows.selectors and the enrollment box, never stored
        overdue: bool
        card_url: str

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
    # No database constraint: texts are partitioned by month (messaging.partitions).
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)  # the API's updated_since and cursor

    class Meta:
        db_table = "interactions_task"
        ordering = ["due_at", "id"]
        constraints = [
            OwnedByLeadOrCustomer.owner_constraint("task_has_exactly_one_owner"),
            models.UniqueConstraint(fields=["enrollment", "step"], name="one_task_per_enrollment_step"),
        ]
        indexes = [models.Index(fields=["organization", "status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.owner} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
