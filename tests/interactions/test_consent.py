"""The consent ledger (docs/ARCHITECTURE.md rule 2): per number per organization, append-only, person's STOP wins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from core.errors import ServiceError
from interactions.models import Consent, ConsentEvent
from interactions.services import consent_grant, consent_revoke, consent_status

NUMBER = "(512) 555-0142"
E164 = "+15125550142"


def grant(org, source="web_form", evidence="Checked 'text me' on the quote form", **kwargs):
    return consent_grant(organization=org, number=NUMBER, source=source, evidence=evidence, **kwargs)


def revoke(org, source, **kwargs):
    return consent_revoke(organization=org, number=NUMBER, source=source, **kwargs)


def test_a_number_without_events_has_no_permission(org):
    state = consent_status(organization=org, number=NUMBER)

    assert (state.status, state.is_granted, state.number) == ("none", False, E164)


def test_grant_writes_a_ledger_event_and_the_state_row(org, agent):
    event = grant(
        org,
        source="agent",
        evidence="Verbal on call, 3:10 pm",
        actor=agent,
        ip_address="203.0.113.9",
        user_agent="Mozilla/5.0",
    )

    assert (event.action, event.source, event.actor, event.evidence) == (
        "grant",
        "agent",
        agent,
        "Verbal on call, 3:10 pm",
    )
    assert (event.ip_address, event.user_agent) == ("203.0.113.9", "Mozilla/5.0")
    row = Consent.objects.get(organization=org, number=E164)
    assert (row.status, row.last_event) == (Consent.Status.GRANTED, event)
    assert consent_status(organization=org, number=E164).is_granted


def test_revoke_writes_a_ledger_event_and_the_state_row(org):
    grant(org)

    event = revoke(org, "agent", evidence="Asked us to stop texting")

    row = Consent.objects.get(organization=org, number=E164)
    assert (row.status, row.last_event) == (Consent.Status.REVOKED, event)
    assert list(ConsentEvent.objects.values_list("action", flat=True)) == ["revoke", "grant"]


def test_a_failed_state_write_leaves_no_ledger_event(org, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Consent.objects, "create", fail)
    with pytest.raises(RuntimeError):
        grant(org)
    monkeypatch.undo()
    grant(org)
    monkeypatch.setattr(Consent, "save", fail)

    with pytest.raises(RuntimeError):
        revoke(org, "sms_keyword")

    assert list(ConsentEvent.objects.values_list("action", flat=True)) == ["grant"]
    assert Consent.objects.get().status == Consent.Status.GRANTED


def test_consent_is_kept_per_organization(org, other_org):
    grant(org)

    assert consent_status(organization=org, number=NUMBER).is_granted
    assert consent_status(organization=other_org, number=NUMBER).status == "none"


@pytest.mark.parametrize("source", ["agent", "api"])
def test_agent_and_api_grants_need_evidence(org, source):
    with pytest.raises(ServiceError) as refusal:
        grant(org, source=source, evidence="  ")

    assert (refusal.value.code, refusal.value.field) == ("evidence_required", "evidence")
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    ("action", "source"),
    [("grant", "carrier"), ("grant", "unsubscribe_link"), ("revoke", "pms_import"), ("grant", "fax")],
)
def test_a_source_that_cannot_do_that_is_refused(org, action, source):
    with pytest.raises(ServiceError) as refusal:
        if action == "grant":
            grant(org, source=source)
        else:
            revoke(org, source)

    assert (refusal.value.code, refusal.value.field) == ("invalid_source", "source")
    assert not ConsentEvent.objects.exists()


def test_a_bad_number_is_a_field_error(org):
    with pytest.raises(ServiceError) as refusal:
        consent_grant(organization=org, number="555", source="web_form")

    assert (refusal.value.code, refusal.value.field) == ("invalid_number", "phone_number")


@pytest.mark.parametrize("opt_out", ["sms_keyword", "unsubscribe_link", "carrier"])
@pytest.mark.parametrize("regrant", ["agent", "api", "web_form", "pms_import"])
def test_after_the_persons_opt_out_nobody_else_can_grant(org, opt_out, regrant):
    grant(org)
    with freeze_time(datetime(2026, 3, 4, 15, 0, tzinfo=UTC)):
        revoke(org, opt_out)

    with pytest.raises(ServiceError) as refusal:
        grant(org, source=regrant, evidence="Said yes on the phone")

    assert refusal.value.code == "opted_out"
    assert refusal.value.field == "phone_number"
    assert refusal.value.status == 409
    assert "Mar 4, 2026" in refusal.value.message
    assert "texting START" in refusal.value.message
    assert refusal.value.as_dict()["opted_out_at"] == "2026-03-04T15:00:00+00:00"
    assert not consent_status(organization=org, number=NUMBER).is_granted
    assert ConsentEvent.objects.count() == 2


def test_the_persons_start_opts_back_in_and_then_agents_may_grant_again(org, agent):
    grant(org)
    revoke(org, "sms_keyword", evidence="STOP")

    grant(org, source="sms_keyword", evidence="START")

    state = consent_status(organization=org, number=NUMBER)
    assert state.is_granted and not state.person_opted_out
    revoke(org, "agent", evidence="Asked for a call instead")
    grant(org, source="agent", evidence="Verbal on call", actor=agent)
    assert consent_status(organization=org, number=NUMBER).is_granted


def test_an_agent_revoke_does_not_block_a_later_agent_grant(org, agent):
    grant(org)
    revoke(org, "agent", evidence="Wrong number for now")

    grant(org, source="agent", evidence="Confirmed on call", actor=agent)

    assert consent_status(organization=org, number=NUMBER).is_granted


def test_an_agent_revoke_after_the_persons_stop_keeps_the_opt_out(org):
    grant(org)
    revoke(org, "unsubscribe_link")
    revoke(org, "agent", evidence="Logged again")

    with pytest.raises(ServiceError, match="texting START"):
        grant(org, source="api", evidence="CRM sync")

    assert consent_status(organization=org, number=NUMBER).person_opted_out


def test_the_ledger_keeps_every_event_in_order(org):
    grant(org)
    revoke(org, "sms_keyword")
    grant(org, source="sms_keyword", evidence="START")
    revoke(org, "carrier", evidence="21610")

    events = list(ConsentEvent.objects.filter(organization=org).values_list("action", "source"))
    assert events == [
        ("revoke", "carrier"),
        ("grant", "sms_keyword"),
        ("revoke", "sms_keyword"),
        ("grant", "web_form"),
    ]
    assert Consent.objects.get(organization=org).last_event.source == "carrier"


def test_an_agent_revoke_needs_a_note_and_writes_nothing_without_one(org, agent):
    grant(org)

    with pytest.raises(ServiceError, match="Say why this number must not be texted") as refused:
        revoke(org, "agent", actor=agent, evidence="  ")

    assert refused.value.field == "evidence"
    assert list(ConsentEvent.objects.values_list("action", flat=True)) == ["grant"]
    assert consent_status(organization=org, number=NUMBER).is_granted
