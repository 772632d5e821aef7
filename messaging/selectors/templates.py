"""The organization's message templates, as the panel offers them."""

from __future__ import annotations

from core.parsing import strict_id
from interactions.models import Organization

from ..models import MessageTemplate


def active_templates_for(*, organization: Organization) -> list[MessageTemplate]:
    """The organization's switched-on templates, by category then name."""
    return list(MessageTemplate.objects.filter(organization=organization, active=True).order_by("category", "name"))


def template_for(*, organization: Organization, pk: int | str) -> MessageTemplate | None:
    """One of the organization's templates (active or not: choosing an inactive one says so)."""
    template_id = strict_id(pk)
    if template_id is None:
        return None
    return MessageTemplate.objects.filter(organization=organization, pk=template_id).first()
