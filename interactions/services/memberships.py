"""People of an organization: accounts created inside it, with their role."""

from __future__ import annotations

from django.db import transaction

from core.errors import ServiceError

from ..models import Membership, Organization


@transaction.atomic
def membership_create(
    *,
    organization: Organization,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    role: str = Membership.Role.AGENT,
) -> Membership:
    """Create a user account inside ``organization`` with its role.

    Managers add people this way only: a new account, never an existing user of the install
    (who might be a superuser or belong to nobody yet), so nobody is pulled into an organization.
    """
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    User = get_user_model()
    if role not in Membership.Role.values:
        raise ServiceError("invalid_role", f"Choose a role: {', '.join(Membership.Role.values)}.", field="role")
    username = (username or "").strip()
    if not username:
        raise ServiceError("required", "Enter a username.", field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError(
            "duplicate_username", f"The username “{username}” is taken; choose another.", field="username"
        )
    user = User(username=username, email=(email or "").strip(), first_name=first_name, last_name=last_name)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError("weak_password", " ".join(exc.messages), field="password") from exc
    user.is_staff = True  # members use the admin for templates, the ledger and the message log
    user.set_password(password)
    user.save()
    return Membership.objects.create(user=user, organization=organization, role=role)
