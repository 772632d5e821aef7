"""Web views for agents: the searchable list of leads and customers, and the cards."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .selectors import organization_for_user, people_search


def require_organization(request: HttpRequest):
    organization = organization_for_user(request.user)
    if organization is None:
        raise PermissionDenied("Your account is not part of an organization yet. Ask a manager to add you.")
    return organization


@login_required
def home(request: HttpRequest) -> HttpResponse:
    organization = require_organization(request)
    query = request.GET.get("q", "")
    kind = request.GET.get("kind", "")
    if kind not in ("", "lead", "customer"):
        kind = ""
    people = people_search(organization=organization, query=query, kind=kind)
    page = Paginator(people, 25).get_page(request.GET.get("page"))
    template = "interactions/_people_rows.html" if request.htmx else "interactions/home.html"
    return render(request, template, {"page": page, "query": query, "kind": kind, "organization": organization})
