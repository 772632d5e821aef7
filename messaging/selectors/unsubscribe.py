"""The link behind ``/u/<token>``."""

from __future__ import annotations

from ..models import UnsubscribeLink


def unsubscribe_link_by_token(*, token: str) -> UnsubscribeLink | None:
    """The link behind ``/u/<token>``, with its organization, or ``None``."""
    if not token or len(token) > 32:
        return None
    return UnsubscribeLink.objects.select_related("organization").filter(token=token).first()
