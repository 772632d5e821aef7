"""Pictures: the organization's own, and the signed links Twilio fetches them through."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from interactions.models import Organization

from ..models import Media, Message

_SALT = "textdesk.media-link"


def media_link(media: Media) -> str:
    """A link on ``PUBLIC_BASE_URL`` that serves ``media`` to whoever holds it, for
    ``MEDIA_LINK_MAX_AGE_SECONDS`` (Twilio fetches each text's pictures through these).

    Signed with ``SECRET_KEY`` (``django.core.signing``, timestamped): it carries the picture's id
    and its content hash, nothing personal, and cannot be made up or changed.
    """
    token = signing.dumps([media.pk, media.sha256[:16]], salt=_SALT)
    return settings.PUBLIC_BASE_URL + reverse("media_public", kwargs={"token": token})


def media_by_link(token: str) -> Media | None:
    """The picture a signed link names, or ``None`` when the signature is wrong, it expired, or the picture is gone."""
    try:
        pk, digest = signing.loads(token, salt=_SALT, max_age=settings.MEDIA_LINK_MAX_AGE_SECONDS)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    media = Media.objects.filter(pk=pk).first() if isinstance(pk, int) else None
    if media is None or media.sha256[:16] != digest:
        return None
    return media


def media_for(*, organization: Organization, pk: int) -> Media | None:
    """The organization's picture ``pk``; ``None`` for another organization's (a 404, never a 403)."""
    return Media.objects.filter(organization=organization, pk=pk).first()


def media_many_for(*, organization: Organization, ids: list[int]) -> list[Media]:
    """The organization's pictures of ``ids``, in that order (ids of another organization are left out)."""
    found = {m.pk: m for m in Media.objects.filter(organization=organization, pk__in=ids)}
    return [found[pk] for pk in dict.fromkeys(ids) if pk in found]


def message_media_map(messages: list[Message]) -> dict[int, list[Media]]:
    """The pictures of each of ``messages`` that has any, in order; one query for all of them."""
    from ..models import MessageMedia

    ids = [m.pk for m in messages if m.media_count]
    found: dict[int, list[Media]] = {}
    if not ids:
        return found
    for row in MessageMedia.objects.filter(message_id__in=ids).select_related("media").order_by("message", "position"):
        found.setdefault(row.message_id, []).append(row.media)
    return found
