"""The consent ledger: text permission granted and revoked, per number per organization (rule 2)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber

from core.errors import ServiceError
from core.formats import display_date
from core.phonenumbers import readable

from ..models import Consent, ConsentEvent, Customer, Lead, Organization, PhoneNumber
from ..selectors import ConsentState, consent_state_from_row
from ..signals import announce_on_commit, consent_changed, number_opted_out
from .history import user_display_name
from .phone_numbers import phone_number_parse


def consent_status(*, organization: Organization, number: str | ParsedNumber) -> ConsentState:
    """The current consent of ``number`` in ``organization`` (``none`` if nothing was recorded)."""
    parsed = phone_number_parse(number)
    row = Consent.objects.filter(organization=organization, number=parsed).select_related("last_event__actor").first()
    if row is None:
        return ConsentState(number=parsed.as_e164, status=Consent.Status.NONE)
    return consent_state_from_row(row)


def _record(
    *,
    organization: Organization,
    number: ParsedNumber,
    action: str,
    source: str,
    actor: User | None,
    evidence: str,
    ip_address: str | None,
    user_agent: str,
) -> tuple[ConsentEvent, Consent]:
    current = Consent.objects.select_for_update().filter(organization=organization, number=number).first()
    actor = actor if actor is not None and actor.is_authenticated else None
    event = ConsentEvent.objects.create(
        organization=organization,
        number=number,
        action=action,
        source=source,
        actor=actor,
        actor_name=user_display_name(actor),
        evidence=evidence,
        ip_address=ip_address or None,
        user_agent=(user_agent or "")[:400],
    )
    status = Consent.Status.GRANTED if action == ConsentEvent.Action.GRANT else Consent.Status.REVOKED
    if event.is_person_opt_out:
        opted_out_at = current.person_opted_out_at if current and current.person_opted_out_at else event.created_at
    elif action == ConsentEvent.Action.GRANT:
        opted_out_at = None
    else:
        opted_out_at = current.person_opted_out_at if current else None
    if current is None:
        current = Consent.objects.create(
            organization=organization, number=number, status=status, last_event=event, person_opted_out_at=opted_out_at
        )
    else:
        current.status, current.last_event, current.person_opted_out_at = status, event, opted_out_at
        current.save(update_fields=["status", "last_event", "person_opted_out_at", "updated_at"])
    _touch_holders(organization=organization, number=number, at=event.created_at)
    announce_on_commit(consent_changed, ConsentEvent, organization=organization, number=number, event=event)
    return event, current


def _touch_holders(*, organization: Organization, number: ParsedNumber, at: datetime) -> None:
    """Bump ``updated_at`` of the number and of everyone holding it: integrators polling with
    ``updated_since`` see the consent change on the person and the number."""
    holders = PhoneNumber.objects.filter(organization=organization, number=number)
    lead_ids = [pk for pk in holders.values_list("lead_id", flat=True) if pk]
    customer_ids = [pk for pk in holders.values_list("customer_id", flat=True) if pk]
    holders.update(updated_at=at)
    if lead_ids:
        Lead.objects.filter(pk__in=lead_ids).update(updated_at=at)
    if customer_ids:
        Customer.objects.filter(pk__in=customer_ids).update(updated_at=at)


def _check_source(source: str, allowed: frozenset[str], done: str) -> None:
    if source not in ConsentEvent.Source.values:
        raise ServiceError("invalid_source", f"Unknown consent source “{source}”.", field="source")
    if source not in allowed:
        choices = ", ".join(sorted(allowed))
        raise ServiceError(
            "invalid_source", f"Consent can’t be {done} by “{source}”; use one of: {choices}.", field="source"
        )


@transaction.atomic
def consent_grant(
    *,
    organization: Organization,
    number: str | ParsedNumber,
    source: str,
    actor: User | None = None,
    evidence: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    """Record text permission for a number.

    After the person opted out themselves (STOP, the unsubscribe link, or the carrier telling
    us the number unsubscribed) only their own START may grant again.
    """
    parsed = phone_number_parse(number, field="phone_number")
    _check_source(source, ConsentEvent.GRANT_SOURCES, "granted")
    if source in (ConsentEvent.Source.AGENT, ConsentEvent.Source.API) and not evidence.strip():
        raise ServiceError(
            "evidence_required",
            "Say how the person gave permission (for example “verbal on call, 3:10 pm”).",
            field="evidence",
        )
    current = Consent.objects.select_for_update().filter(organization=organization, number=parsed).first()
    if current and current.person_opted_out_at and source != ConsentEvent.Source.SMS_KEYWORD:
        when = display_date(current.person_opted_out_at)
        raise ServiceError(
            "opted_out",
            f"{readable(parsed)} opted out on {when}. Only the person can opt back in, by texting START to us.",
            field="phone_number",
            status=409,
            opted_out_at=current.person_opted_out_at,
        )
    event, _ = _record(
        organization=organization,
        number=parsed,
        action=ConsentEvent.Action.GRANT,
        source=source,
        actor=actor,
        evidence=evidence,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    return event


@transaction.atomic
def consent_revoke(
    *,
    organization: Organization,
    number: str | ParsedNumber,
    source: str,
    actor: User | None = None,
    evidence: str = "",
    ip_address: str | None = None,
    user_agent: str = "",
) -> ConsentEvent:
    """Record that a number must not be texted. Always allowed; repeated revokes are logged too.

    An agent says why (the note is the ledger's evidence, as for an agent's grant). An agent's
    revoke does not stop a later agent grant: only the person's own opt-out does that. The
    follow-up workflows of everyone the number belongs to end with it.
    """
    parsed = phone_number_parse(number, field="phone_number")
    _check_source(source, ConsentEvent.REVOKE_SOURCES, "revoked")
    if source == ConsentEvent.Source.AGENT and not evidence.strip():
        raise ServiceError(
            "evidence_required",
            "Say why this number must not be texted (for example “asked on the phone”).",
            field="evidence",
        )
    # Locked before it is read: of two opt-outs at once, only the first finds it not yet revoked.
    current = Consent.objects.select_for_update().filter(organization=organization, number=parsed).first()
    was_revoked = current is not None and current.status == Consent.Status.REVOKED
    event, _ = _record(
        organization=organization,
        number=parsed,
        action=ConsentEvent.Action.REVOKE,
        source=source,
        actor=actor,
        evidence=evidence,
        ip_address=ip_address,
        user_agent=user_agent,
    )
    number_opted_out.send(
        sender=ConsentEvent, organization=organization, number=parsed, event=event, was_revoked=was_revoked
    )
    return event
