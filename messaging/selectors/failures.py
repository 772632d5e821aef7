"""Texts that failed, counted per reason per facility (the admin's index)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count
from django.db.models.functions import Coalesce
from django.utils import timezone

from interactions.models import Organization

from ..models import Message

# What a failed text's provider-neutral reason means, for the admin's failure counts.
FAILURE_WORDS = {
    "recipient_opted_out": "opted out at the carrier",
    "invalid_number": "not a valid or known number",
    "unreachable": "phone unreachable",
    "landline": "landline",
    "filtered": "filtered as spam",
    "sender_not_registered": "sender not registered",
    "rate_limited": "rate limited",
    "provider_unavailable": "provider unavailable",
    "no_sender": "no sender configured",
    "refused": "refused",
    "unknown": "unknown",
}


@dataclass(frozen=True)
class FacilityFailures:
    facility: str
    counts: list[tuple[str, int]]  # (reason in words, texts), most first

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)


def failed_texts_by_facility(
    *, organization: Organization | None, days: int = 7, now: datetime | None = None
) -> list[FacilityFailures]:
    """Texts that failed or were not delivered in the last ``days`` days, counted per reason per facility.

    ``organization`` ``None``: every organization (a superuser's admin). One grouped query.
    """
    now = now or timezone.now()
    failed = Message.objects.annotate(failed_on=Coalesce("failed_at", "updated_at")).filter(
        direction=Message.Direction.OUTBOUND,
        status__in=[Message.Status.FAILED, Message.Status.UNDELIVERED],
        failed_on__gte=now - timedelta(days=days),
    )
    if organization is not None:
        failed = failed.filter(organization=organization)
    rows = failed.values("facility__name", "error_code").annotate(texts=Count("id")).order_by("facility__name")
    by_facility: dict[str, dict[str, int]] = {}
    for row in rows:
        reason = Message(error_code=row["error_code"]).failure_reason or "unknown"
        words = FAILURE_WORDS.get(reason, reason.replace("_", " "))
        counts = by_facility.setdefault(row["facility__name"] or "(no facility)", {})
        counts[words] = counts.get(words, 0) + row["texts"]
    return [
        FacilityFailures(facility=name, counts=sorted(counts.items(), key=lambda c: (-c[1], c[0])))
        for name, counts in by_facility.items()
    ]
