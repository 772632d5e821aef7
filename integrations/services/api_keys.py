"""API keys: created (shown once, then only hashed), revoked, and a request's key authenticated."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import Membership, Organization

from ..models import ApiKey

KEY_PREFIX = "td_"
LAST_USED_EVERY = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    role: str = Membership.Role.AGENT,
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new API key and the key itself, which is shown this once and only hashed from now on."""
    name = (name or "").strip()
    if not name:
        raise ServiceError("required", "Name the key after what uses it (e.g. “PMS sync”).", field="name")
    if role not in Membership.Role.values:
        raise ServiceError("invalid_role", f"Choose a role: {', '.join(Membership.Role.values)}.", field="role")
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError("invalid_expiry", "The expiry must be in the future.", field="expires_at")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    user = get_user_model().objects.create(username=f"api-key-{prefix}", first_name=name[:150])
    user.set_unusable_password()
    user.save(update_fields=["password"])
    Membership.objects.create(user=user, organization=organization, role=role)
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        role=role,
        prefix=prefix,
        key_hash=_hash(key),
        user=user,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
        expires_at=expires_at,
    )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, by: User | None = None, now: datetime | None = None) -> ApiKey:
    """Stop a key from working at once; the row (and its user, named in records) stays.

    ``by`` is who asks; a key can't revoke itself (a leaked key would lock its owner out of the
    answer to the leak, and the log would name the key, not a person): a manager or another key does.
    """
    if by is not None and by.pk == api_key.user_id:
        raise ServiceError(
            "own_key", "An API key can't revoke itself; a manager revokes it in admin, or another key does.", status=409
        )
    locked = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
    if locked.revoked_at is None:
        locked.revoked_at = now or timezone.now()
        locked.save(update_fields=["revoked_at", "updated_at"])
        locked.user.is_active = False
        locked.user.save(update_fields=["is_active"])
    return locked


def api_key_authenticate(*, key: str, now: datetime | None = None) -> ApiKey | None:
    """The live key ``key`` is, with its user, membership and organization loaded; ``None`` if none."""
    now = now or timezone.now()
    if not key.startswith(KEY_PREFIX):
        return None
    prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
    api_key = ApiKey.objects.select_related("user__membership__organization").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.key_hash, _hash(key)):
        return None
    if api_key.revoked_at is not None or (api_key.expires_at is not None and api_key.expires_at <= now):
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_EVERY:
        # At most one write a minute per key, whatever the request rate.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
