"""The admin index's line of failed texts (``templates/admin/index.html``)."""

from __future__ import annotations

from django import template
from django.template.context import Context

from core.tenancy import organization_for_user
from messaging.selectors import failed_texts_by_facility

register = template.Library()


@register.inclusion_tag("admin/_failed_texts.html", takes_context=True)
def failed_texts(context: Context, days: int = 7) -> dict:
    """Texts failed per reason per facility over the last ``days`` days, for the signed-in user's organization."""
    request = context["request"]
    user = request.user
    organization = None if user.is_superuser else organization_for_user(user)
    rows = (
        []
        if organization is None and not user.is_superuser
        else failed_texts_by_facility(organization=organization, days=days)
    )
    return {"rows": rows, "days": days}
