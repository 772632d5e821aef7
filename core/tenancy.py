"""Which organization a request works in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

if TYPE_CHECKING:  # core sits below interactions: the tenant model is named for type checkers only
    from django.db.models import Model, QuerySet

    from interactions.models import Organization

# The tenant every row belongs to, named the way AUTH_USER_MODEL names the user model: core never imports it.
TENANT_MODEL = "interactions.Organization"
# An API key acts through a user (and membership) of its own, so records name the key; it is not a person to
# hand a conversation or a task to. Named by the relation integrations.ApiKey.user declares: core never imports it.
SERVICE_USER_RELATION = "api_key"


def organization_for_user(user: AbstractBaseUser | AnonymousUser) -> Organization | None:
    """The organization a signed-in user works in, or ``None`` (no membership)."""
    if not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    return membership.organization if membership else None


def tenant_model() -> type[Model]:
    """The ``Organization`` model class (see ``TENANT_MODEL``)."""
    from django.apps import apps

    return apps.get_model(TENANT_MODEL)


def people_of(organization: Organization | None) -> QuerySet:
    """The organization's people: active members who are persons, never an API key's service user."""
    return (
        get_user_model()
        ._default_manager.filter(membership__organization=organization, is_active=True)
        .filter(**{f"{SERVICE_USER_RELATION}__isnull": True})
    )


def require_organization(request: HttpRequest) -> Organization:
    """The signed-in user's organization; 403 with a plain reason for a user without one."""
    organization = organization_for_user(request.user)
    if organization is None:
        raise PermissionDenied("Your account is not part of an organization yet. Ask a manager to add you.")
    return organization
