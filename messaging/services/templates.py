"""Writing message templates, with the same validation as admin."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import Organization

from ..models import Media, MessageTemplate
from ..rendering import template_validate

# --- templates ------------------------------------------------------------------------------

_TEMPLATE_FIELDS = ("name", "category", "body", "active")


def _template_save(template: MessageTemplate, update_fields: list[str] | None = None) -> MessageTemplate:
    if not (template.name or "").strip():
        raise ServiceError("required", "Give the template a name.", field="name")
    if template.category not in MessageTemplate.Category.values:
        raise ServiceError(
            "invalid_category",
            f"Choose a category: {', '.join(MessageTemplate.Category.values)}.",
            field="category",
        )
    template_validate(template.body or "", field="body")
    try:
        with transaction.atomic():
            template.save(update_fields=update_fields)
    except IntegrityError as exc:
        raise ServiceError(
            "duplicate_name", f"There is already a template named “{template.name}”.", field="name"
        ) from exc
    return template


def template_create(
    *,
    organization: Organization,
    name: str,
    body: str,
    category: str = MessageTemplate.Category.GENERAL,
    active: bool = True,
) -> MessageTemplate:
    """Create a template after the same checks as the admin: known merge fields, a unique name."""
    template = MessageTemplate(organization=organization, name=name, body=body, category=category, active=active)
    return _template_save(template)


def template_update(*, template: MessageTemplate, **changes: Any) -> MessageTemplate:
    """Change a template's name, category, body or active flag, with the checks of ``template_create``."""
    unknown = set(changes) - set(_TEMPLATE_FIELDS)
    if unknown:
        raise ServiceError("unknown_field", f"These fields can’t be set here: {', '.join(sorted(unknown))}.")
    for name, value in changes.items():
        setattr(template, name, value)
    return _template_save(template, [*changes, "updated_at"] if changes else None)


def templates_flag_clear(*, templates: Iterable[MessageTemplate]) -> int:
    """A manager reviewed the wording of templates a carrier filtered as spam: clear their flag; how many."""
    return MessageTemplate.objects.filter(pk__in=[t.pk for t in templates], flagged_at__isnull=False).update(
        flagged_at=None, flag_reason=""
    )


@transaction.atomic
def template_archive(*, template: MessageTemplate, now: datetime | None = None) -> MessageTemplate:
    """Archive a template: it leaves the pickers and the lists (and can no longer be sent); texts keep it.

    Archiving twice keeps the first time. Templates are archived, never deleted: sent texts name them.
    """
    locked = MessageTemplate.objects.select_for_update().get(pk=template.pk)
    if locked.archived_at is None:
        locked.archived_at, locked.active = now or timezone.now(), False
        locked.save(update_fields=["archived_at", "active", "updated_at"])
    return locked


def template_picture_set(*, template: MessageTemplate, media: Media | None) -> MessageTemplate:
    """Give ``template`` a picture sent with every text from it (``None``: plain texts again)."""
    if media is not None and media.organization_id != template.organization_id:
        raise ServiceError("not_found", "That picture does not exist.", field="media", status=404)
    template.media = media
    template.save(update_fields=["media", "updated_at"])
    return template
