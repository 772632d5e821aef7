"""The page header's warning for managers: a webhook endpoint was switched off after failing."""

from __future__ import annotations

from django.http import HttpRequest

from .models import WebhookEndpoint


def webhook_alerts(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    membership = getattr(user, "membership", None) if user is not None and user.is_authenticated else None
    if membership is None or not membership.is_manager:
        return {}
    # Lazy: evaluated only by a template that shows the header.
    return {
        "switched_off_webhooks": WebhookEndpoint.objects.filter(
            organization_id=membership.organization_id, active=False, disabled_at__isnull=False
        ).order_by("id")
    }
