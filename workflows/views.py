"""Web views for workflows: the outstanding list, and the task and enrollment buttons on it and on cards."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import ServiceError
from core.http import AuthenticatedRequest
from core.parsing import strict_id
from core.redirects import safe_next
from core.tenancy import require_organization
from interactions.selectors import person_for, phone_number_for
from messaging.models import Message
from messaging.views.panel import send_text

from .models import Enrollment, Task, Workflow
from .selectors import card_url, task_counts, tasks_outstanding
from .services import enrollment_start, enrollment_stop, task_complete, task_complete_by_text, task_skip


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Back to where the form was (the outstanding list with its filters, or a card)."""
    return HttpResponseRedirect(safe_next(request, default))


def _int_or_none(value: str | None) -> int | None:
    return strict_id(value)


@login_required
def outstanding(request: AuthenticatedRequest) -> HttpResponse:
    """Due and overdue tasks, oldest first, filterable by facility and kind, with counts per kind."""
    organization = require_organization(request)
    facilities = list(organization.facilities.all())
    facility_id = _int_or_none(request.GET.get("facility"))
    if facility_id not in {f.pk for f in facilities}:
        facility_id = None
    kind = request.GET.get("kind", "")
    if kind not in Task.Kind.values:
        kind = ""
    tasks = tasks_outstanding(organization=organization, facility_id=facility_id, kind=kind)
    counts = task_counts(organization=organization, facility_id=facility_id)
    context = {
        "tasks": tasks,
        "kinds": [(value, label, counts[value]) for value, label in Task.Kind.choices],
        "total": sum(counts.values()),
        "facilities": facilities,
        "facility_id": facility_id,
        "kind": kind,
        "here": request.get_full_path(),
    }
    template = "workflows/_outstanding_tasks.html" if request.htmx else "workflows/outstanding.html"
    return render(request, template, context)


def _task(request: HttpRequest, pk: int) -> Task:
    organization = require_organization(request)
    return get_object_or_404(Task.objects.select_related("lead", "customer"), pk=pk, organization=organization)


@login_required
@require_POST
def task_done(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    task = _task(request, pk)
    try:
        task_complete(task=task, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{task.get_kind_display()} for {task.owner.full_name} done.")
    return _back(request, reverse("outstanding"))


@login_required
@require_POST
def task_skip_view(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    task = _task(request, pk)
    try:
        task_skip(task=task, user=request.user, reason=request.POST.get("reason", ""))
    except ServiceError as exc:
        messages.error(request, f"{task.owner.full_name}: {exc.message}")
    else:
        messages.success(request, f"{task.get_kind_display()} for {task.owner.full_name} skipped.")
    return _back(request, reverse("outstanding"))


@login_required
@require_POST
def task_text_send(request: AuthenticatedRequest, pk: int, phone_id: int) -> HttpResponse:
    """ "Open & text": the card's text panel, opened from a task, sends here; the text completes the task.

    The text goes out whatever becomes of the task (another organization's, about someone else,
    already closed): the agent wrote it to this person.
    """
    phone = phone_number_for(organization=require_organization(request), pk=phone_id)
    if phone is None:
        raise Http404("No such phone number in your organization.")

    def complete(message: Message) -> str:
        task = task_complete_by_text(task_id=pk, message=message, user=request.user)
        return " The task is done." if task else ""

    return send_text(request, phone, task=str(pk), after_send=complete)


@login_required
@require_POST
def enrollment_create(request: AuthenticatedRequest, kind: str, pk: int) -> HttpResponse:
    """The card's “Enroll” button: put this lead or customer into the chosen workflow."""
    organization = require_organization(request)
    owner = person_for(organization=organization, kind=kind, pk=pk)
    if owner is None:
        raise Http404("No such record in your organization.")
    workflow_id = _int_or_none(request.POST.get("workflow"))
    workflow = Workflow.objects.filter(organization=organization, pk=workflow_id).first() if workflow_id else None
    if workflow is None:
        messages.error(request, "Pick a workflow.")
        return _back(request, card_url(owner))
    try:
        enrollment_start(workflow=workflow, owner=owner, source=Enrollment.Source.AGENT, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{owner.full_name} is now in “{workflow.name}”.")
    return _back(request, card_url(owner))


@login_required
@require_POST
def enrollment_stop_view(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    organization = require_organization(request)
    enrollment = get_object_or_404(
        Enrollment.objects.select_related("workflow", "lead", "customer"), pk=pk, organization=organization
    )
    try:
        enrollment_stop(enrollment=enrollment, user=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{enrollment.owner.full_name} left “{enrollment.workflow.name}”.")
    return _back(request, card_url(enrollment.owner))
