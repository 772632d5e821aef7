"""One number's consent evidence, as CSV and as a printable page: every ledger event, who, when, how."""

from __future__ import annotations

from django.http import HttpResponse
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.csv import csv_response
from core.replica import replica_ok

from .models import ConsentEvent, Organization

COLUMNS = ["event_id", "at_utc", "action", "source", "source_label", "who", "evidence", "ip_address", "user_agent"]


@replica_ok()  # an export: seconds behind is fine; who just recorded consent reads the primary
def consent_evidence_rows(*, organization: Organization, number: ParsedNumber) -> list[ConsentEvent]:
    """Every ledger event of ``number`` in ``organization``, oldest first (the whole record, not capped)."""
    return list(
        ConsentEvent.objects.filter(organization=organization, number=number).select_related("actor").order_by("id")
    )


def who_acted(event: ConsentEvent) -> str:
    """Who recorded the event, as named at the time; the person or the system when nobody signed in."""
    if event.actor_name:
        return event.actor_name
    if event.actor:
        return event.actor.get_username()
    return "the person" if event.is_person_opt_out or event.source == ConsentEvent.Source.SMS_KEYWORD else "system"


def consent_evidence_csv_response(*, organization: Organization, number: ParsedNumber) -> HttpResponse:
    """The ledger of ``number`` as a CSV download (every cell neutralised for spreadsheets: ``core.csv``)."""
    rows = (
        [
            event.pk,
            event.created_at.isoformat(),
            event.action,
            event.source,
            event.get_source_display(),
            who_acted(event),
            event.evidence,
            event.ip_address or "",
            event.user_agent,
        ]
        for event in consent_evidence_rows(organization=organization, number=number)
    )
    return csv_response(filename=f"consent-{number.as_e164.lstrip('+')}.csv", header=COLUMNS, rows=rows)
