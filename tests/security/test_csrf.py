"""CSRF is enforced on every form: each non-API, non-webhook URL refuses a POST without a token.

The URLconf is walked, so a view added later is checked too; the one deliberate exemption
(``/u/<token>``, whose unguessable token is the credential) is named with its reason.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

# Token-authenticated or signed, not cookie-authenticated: CSRF does not apply.
SKIPPED_PREFIXES = ("api/", "admin/")  # admin: checked through its registry below
SIGNED_WEBHOOKS = {"twilio_status", "twilio_inbound", "twilio_status_no_slash", "twilio_inbound_no_slash"}
EXEMPT = {
    "unsubscribe": "the link's unguessable token is the credential; phones' in-app browsers drop cookies",
    "healthz": "GET-only probe, answered before the CSRF middleware (no state to change)",
    "healthz_live": "GET-only probe, answered before the CSRF middleware (no state to change)",
    "healthz_ready": "GET-only probe, answered before the CSRF middleware (no state to change)",
    "metrics": "GET-only, bearer-token scrape, answered before the CSRF middleware (no state to change)",
}


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _site_routes() -> list[tuple[str, URLPattern]]:
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.lstrip("^").startswith(SKIPPED_PREFIXES) or pattern.name in SIGNED_WEBHOOKS:
            continue
        routes.append((route, pattern))
    return routes


SITE_ROUTES = _site_routes()
CHECKED_ROUTES = [(route, pattern) for route, pattern in SITE_ROUTES if pattern.name not in EXEMPT]


def _url(pattern: URLPattern) -> str:
    """A URL of ``pattern`` with placeholder arguments: CSRF is checked before any view runs."""
    kwargs = {}
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", str(pattern.pattern)):
        kwargs[name] = {"int": 1, "str": "lead", "slug": "x", "path": "x"}.get(converter, "x" * 16)
    return reverse(pattern.name, kwargs=kwargs)


@pytest.fixture
def csrf_client(agent) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    return client


def test_the_walk_finds_the_forms_agents_use():
    names = {pattern.name for _, pattern in SITE_ROUTES}
    assert {"text_send", "text_consent_record", "text_number_add", "login", "logout", "unsubscribe"} <= names


@pytest.mark.parametrize("route, pattern", CHECKED_ROUTES, ids=[route for route, _ in CHECKED_ROUTES])
def test_a_post_without_a_csrf_token_is_refused(route, pattern, csrf_client):
    response = csrf_client.post(_url(pattern), {"body": "Hi", "number": "+15125550199"})
    assert response.status_code == 403, f"{route} answered {response.status_code} to a POST without a CSRF token"
    assert "CSRF verification failed" in response.content.decode()


def test_the_exemptions_are_still_the_named_ones():
    names = {pattern.name for _, pattern in SITE_ROUTES}
    assert set(EXEMPT) <= names, "an exempted route is gone: drop it from EXEMPT"


def _admin_urls() -> list[str]:
    urls = [reverse("admin:login"), reverse("admin:logout"), reverse("admin:password_change")]
    for model in admin.site._registry:
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls += [reverse(f"{name}_changelist"), reverse(f"{name}_add")]
    return urls


@pytest.mark.parametrize("url", _admin_urls())
def test_admin_forms_refuse_a_post_without_a_csrf_token(url, db):
    from tests.factories import UserFactory

    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    response = client.post(url, {"name": "x"})
    assert response.status_code == 403
    assert "CSRF verification failed" in response.content.decode()
