"""Demo workflows for ``seed_demo``: one of each kind, and enrollments so the outstanding list has work.

Idempotent: workflows and templates are found by name, and only people never enrolled are enrolled.
"""

from __future__ import annotations

from datetime import time, timedelta

from django.db import transaction
from django.utils import timezone

from interactions.models import Customer, Lead, Organization
from messaging.models import MessageTemplate

from .materialise import MaterialiseReport, workflows_materialise
from .models import Enrollment, Workflow, WorkflowStep
from .services import enrollment_start

A = WorkflowStep.Action
TEMPLATES = {
    "Follow-up: thanks for asking": (
        MessageTemplate.Category.LEAD_FOLLOW_UP,
        "Hi {{ first_name }}, this is {{ agent_name }} at {{ facility_name }}. Thanks for asking about a unit! "
        "Any questions? Call us at {{ facility_phone }}.",
    ),
    "Follow-up: still looking?": (
        MessageTemplate.Category.LEAD_FOLLOW_UP,
        "Hi {{ first_name }}, still looking for storage? {{ facility_name }} can hold a unit for you today.",
    ),
    "Collections: balance reminder": (
        MessageTemplate.Category.COLLECTIONS,
        "Hi {{ first_name }}, a friendly reminder from {{ facility_name }}: unit {{ unit }} has a balance of "
        "{{ balance_due }}. Questions? {{ facility_phone }}.",
    ),
    "Collections: final notice": (
        MessageTemplate.Category.COLLECTIONS,
        "{{ first_name }}, unit {{ unit }} at {{ facility_name }} is past due ({{ balance_due }}). Please pay "
        "or call {{ facility_phone }} to avoid a lock-out.",
    ),
}
WORKFLOWS = [
    (
        "New lead follow-up",
        Workflow.Kind.LEAD_FOLLOW_UP,
        [
            (0, time(9, 0), A.MANUAL_TEXT, "Follow-up: thanks for asking", ""),
            (1, time(10, 0), A.CALL_REMINDER, None, "Call to offer a tour and the move-in special."),
            (2, time(11, 0), A.AUTOMATIC_TEXT, "Follow-up: still looking?", ""),
            (5, time(10, 0), A.MANUAL_TEXT, "Follow-up: still looking?", "Last touch: ask if they found storage."),
        ],
    ),
    (
        "Past-due balance",
        Workflow.Kind.COLLECTION,
        [
            (0, time(10, 0), A.AUTOMATIC_TEXT, "Collections: balance reminder", ""),
            (2, time(10, 0), A.CALL_REMINDER, None, "Offer autopay; note a promise-to-pay date."),
            (3, time(10, 0), A.MANUAL_TEXT, "Collections: balance reminder", ""),
            (10, time(10, 0), A.AUTOMATIC_TEXT, "Collections: final notice", ""),
        ],
    ),
]


@transaction.atomic
def _seed_definitions(org: Organization) -> None:
    templates = {}
    for name, (category, body) in TEMPLATES.items():
        templates[name], _ = MessageTemplate.objects.get_or_create(
            organization=org, name=name, defaults={"category": category, "body": body}
        )
    for name, kind, steps in WORKFLOWS:
        has_default = Workflow.objects.filter(organization=org, kind=kind, is_default=True).exists()
        workflow, created = Workflow.objects.get_or_create(
            organization=org, name=name, defaults={"kind": kind, "is_default": not has_default}
        )
        if created:
            for day, at, action, template, instructions in steps:
                WorkflowStep.objects.create(
                    organization=org,
                    workflow=workflow,
                    day_offset=day,
                    time_of_day=at,
                    action=action,
                    template=templates.get(template),
                    instructions=instructions,
                )


def seed_workflows(org: Organization) -> MaterialiseReport:
    """Workflows, a few back-dated enrollments, and their due steps run once (tasks, texts)."""
    _seed_definitions(org)
    now = timezone.now()
    follow_up = Workflow.objects.get(organization=org, name="New lead follow-up")
    collection = Workflow.objects.get(organization=org, name="Past-due balance")
    leads = Lead.objects.filter(organization=org, status__in=[Lead.Status.NEW, Lead.Status.CONTACTED])
    customers = Customer.objects.filter(organization=org, balance_due__gt=0)
    for workflow, people in ((follow_up, leads.order_by("pk")[:6]), (collection, customers.order_by("pk")[:6])):
        for k, person in enumerate(people):
            if Enrollment.objects.filter(**{person.kind: person}).exists():
                continue
            enrollment_start(
                workflow=workflow,
                owner=person,
                source=Enrollment.Source.AUTOMATIC,
                started_at=now - timedelta(days=k % 4),
            )
    return workflows_materialise(now=now)
