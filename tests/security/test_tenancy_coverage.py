"""Cross-organization 404 for every admin page and API object, and tests that keep it that way.

tests/interactions/test_admin.py covers the interactions admins, tests/api/test_tenancy.py and
tests/api/test_tenancy_workflows.py and tests/api/test_tenancy_integrations.py the API (and the
integrations admins); this adds the messaging admins and the admins only
superusers may use, and meta-tests that fail when an admin or an API route is added without a
cross-organization test.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.urls import reverse
from rest_framework.authtoken.admin import TokenProxy

from config import api as api_urls
from messaging.models import ConversationNote, Message, MessageTemplate, UnsubscribeLink
from messaging.services import conversation_note_add, unsubscribe_link_get_or_create
from tests.api import test_tenancy as api_tenancy
from tests.api import test_tenancy_integrations as integration_tenancy
from tests.api import test_tenancy_workflows as workflow_tenancy
from tests.factories import MessageFactory, MessageTemplateFactory, PhoneNumberFactory, UserFactory
from tests.interactions import test_admin as interactions_admin

MESSAGING_ADMINS = [MessageTemplate, Message, UnsubscribeLink, ConversationNote]
SUPERUSER_ONLY = {User, Group, TokenProxy}  # Django's own admins: no model permissions for members


def test_every_admin_has_a_cross_organization_test():
    covered = (
        set(interactions_admin.INTERACTIONS_ADMINS)
        | set(MESSAGING_ADMINS)
        | set(integration_tenancy.INTEGRATIONS_ADMINS)
        | SUPERUSER_ONLY
    )
    added = set(admin.site._registry) - covered
    assert not added, f"admins without a cross-organization test: {sorted(m._meta.label for m in added)}"


def _theirs(model, other_org):
    phone = PhoneNumberFactory(lead__facility__organization=other_org, number="+15125550999")
    return {
        MessageTemplate: lambda: MessageTemplateFactory(organization=other_org, body="Rival secret"),
        Message: lambda: MessageFactory(phone_number=phone, body="Rival secret"),
        UnsubscribeLink: lambda: unsubscribe_link_get_or_create(organization=other_org, number=phone.number),
        ConversationNote: lambda: conversation_note_add(
            person=phone.lead, author=UserFactory(username="rival-agent"), body="Rival secret"
        ),
    }[model]()


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("who", ["agent", "manager"])
@pytest.mark.parametrize("model", MESSAGING_ADMINS, ids=lambda m: m._meta.model_name)
def test_another_organizations_messaging_row_answers_404_on_every_object_page(
    model, who, other_org, agent_client, manager_client
):
    client = {"agent": agent_client, "manager": manager_client}[who]
    theirs = _theirs(model, other_org)

    for view in ("change", "delete", "history"):
        response = client.get(_admin_url(model, view, theirs.pk))
        assert response.status_code == 404, view
        assert "Rival" not in response.content.decode()
    # A change POST is refused without touching the row: 404, or 403 where the admin is read-only
    # for everyone (the same answer as for the member's own rows, so nothing is revealed).
    assert client.post(_admin_url(model, "change", theirs.pk), {"body": "x"}).status_code in (403, 404)
    assert "Rival" not in client.get(_admin_url(model, "changelist")).content.decode()


@pytest.mark.parametrize("model", sorted(SUPERUSER_ONLY, key=lambda m: m._meta.label), ids=lambda m: m._meta.label)
def test_admins_for_superusers_only_show_members_nothing(model, other_org, manager_client):
    rival = UserFactory(username="rival-user")
    for url in (_admin_url(model, "changelist"), _admin_url(model, "add")):
        assert manager_client.get(url).status_code == 403
    if model is User:
        # Any user's id answers as a missing one (403 for an existing id would tell which ids exist).
        response = manager_client.get(_admin_url(User, "change", rival.pk))
        assert response.status_code == 404
        assert "rival-user" not in response.content.decode()


# --- API -------------------------------------------------------------------------------------


def _template(path: str) -> str:
    return re.sub(r"\{\w+\}", "{pk}", path)


def _router_routes():
    for prefix, viewset, _ in api_urls.router.registry:
        for route in api_urls.router.get_routes(viewset):
            path = "/api/v1/" + route.url.format(prefix=prefix, lookup="{pk}", trailing_slash="/").strip("^$")
            for method, action in route.mapping.items():
                if hasattr(viewset, action) and method in viewset.http_method_names:
                    yield route.detail, method, path


def _parametrized(test) -> list:
    [mark] = [m for m in test.pytestmark if m.name == "parametrize"]
    return list(mark.args[1])


def test_every_api_object_route_has_a_cross_organization_test():
    endpoints = (
        api_tenancy.OBJECT_ENDPOINTS
        + workflow_tenancy.WORKFLOW_OBJECT_ENDPOINTS
        + integration_tenancy.INTEGRATION_OBJECT_ENDPOINTS
    )
    covered = {(method, _template(path)) for method, path, _ in endpoints}
    routes = {(method, path) for detail, method, path in _router_routes() if detail}
    missing = routes - covered
    assert not missing, f"API object routes without a cross-organization 404 test: {sorted(missing)}"


def test_every_api_list_has_a_cross_organization_test():
    covered = (
        set(_parametrized(api_tenancy.test_lists_never_include_another_organizations_rows))
        | set(_parametrized(workflow_tenancy.test_workflow_lists_never_include_another_organizations_rows))
        | set(_parametrized(integration_tenancy.test_integration_lists_never_include_another_organizations_rows))
    )
    lists = {path for detail, method, path in _router_routes() if not detail and method == "get"}
    assert lists <= covered, f"API lists without a cross-organization test: {sorted(lists - covered)}"


# API URLs outside the router, and the test that covers each.
API_EXTRA_ROUTES = {
    "api-consent": "tests/api/test_tenancy.py::test_consent_of_a_number_is_per_organization",
    "api-consent-events": "tests/api/test_consent_feed.py::test_feed_and_export_hide_other_organizations",
    "api-consent-evidence": "tests/api/test_consent_feed.py::test_feed_and_export_hide_other_organizations",
    "api-schema": "the schema holds no organization data",
    "api-docs": "the Swagger page holds no organization data",
}


def test_every_other_api_route_is_accounted_for():
    named = {p.name for p in api_urls.urlpatterns if getattr(p, "name", None)}
    assert named == set(API_EXTRA_ROUTES), "an API route was added or removed: cover it and list it here"
