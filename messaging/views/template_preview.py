"""The template form's live preview (admin → Message templates): the body as typed, filled in for a sample record.

The admin's change page shows the saved body's preview; ``static/js/template_preview.js`` posts the body here
as the manager types and puts the answer in its place, so what a text will look like (and its length) is
seen before saving. Rendered by ``messaging.services.template_preview``, the rules the saved preview uses.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from core.errors import ServiceError
from core.http import AuthenticatedRequest
from core.tenancy import require_organization

from ..selectors import template_for
from ..services import template_preview, template_sample_person


@login_required
@require_POST
def template_preview_live(request: AuthenticatedRequest) -> HttpResponse:
    """``body`` rendered for the organization's sample record (HTML for the preview box). ``template``, when
    given, must be one of the organization's own (404 otherwise: another organization's id reveals nothing)."""
    organization = require_organization(request)
    if request.POST.get("template") and template_for(organization=organization, pk=request.POST["template"]) is None:
        raise Http404("No such template in your organization.")
    body = request.POST.get("body", "").replace("\r\n", "\n")
    context: dict = {"draft": None, "error": ""}
    if body.strip():
        try:
            person = template_sample_person(organization=organization)
            context["draft"] = template_preview(organization=organization, body=body, person=person)
        except ServiceError as exc:
            context["error"] = exc.message
    return render(request, "messaging/_template_preview.html", context)
