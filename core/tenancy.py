"""Which organization a request works in."""

from __future__ import annotations

def organization_for_user(user: AbstractBaseUser) -> Organization | None:
    """The organization a signed-in user works in, or ``None`` (no membership)."""
    if not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    return membership.organization if membership else None


def role_for_user(user: AbstractBaseUser) -> str | None:
    membership = getattr(user, "membership", None) if user.is_authenticated else None
    return membership.role if membership else None


def require_organization(request: HttpRequest) -> Organization:
    organization = organization_for_user(request.user)
    if organization is None:
        raise PermissionDenied("Your account is not part of an organization yet. Ask a manager to add you.")
    return organization


