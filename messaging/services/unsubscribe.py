"""The unsubscribe link (``/u/<token>``): a person opting out by themselves."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import ConsentEvent
from interactions.services import consent_revoke, consent_status

from ..models import UnsubscribeLink

# --- unsubscribe links ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnsubscribeOutcome:
    link: UnsubscribeLink
    already: bool  # the person had already opted out: nothing new was written


def unsubscribe_link_use(*, token: str, ip_address: str | None = None, user_agent: str = "") -> UnsubscribeOutcome:
    """Opt the number behind ``token`` out of the link's organization (the POST of ``/u/<token>``).

    Idempotent: once the person has opted out (by this link, STOP or the carrier) a repeat is
    a no-op. A revoke by an agent or the API is not the person's own opt-out, so the link still
    records one (which only the person's START can undo).
    """
    with transaction.atomic():
        link = (
            UnsubscribeLink.objects.select_for_update(of=("self",))
            .select_related("organization")
            .filter(token=token)
            .first()
        )
        if link is None:
            raise ServiceError("not_found", "This unsubscribe link is not valid.", field="token", status=404)
        state = consent_status(organization=link.organization, number=link.number)
        if state.is_revoked and state.person_opted_out:
            return UnsubscribeOutcome(link=link, already=True)
        consent_revoke(
            organization=link.organization,
            number=link.number,
            source=ConsentEvent.Source.UNSUBSCRIBE_LINK,
            evidence=f"Confirmed on the unsubscribe page /u/{link.token}",
            ip_address=ip_address,
            user_agent=user_agent,
        )
        if link.used_at is None:
            link.used_at = timezone.now()
            link.save(update_fields=["used_at"])
    return UnsubscribeOutcome(link=link, already=False)
