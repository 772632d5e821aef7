"""The texting laws by jurisdiction: each window's edges, Texas Sundays, caps, the stricter of address and area code."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from freezegun import freeze_time

from core.errors import ServiceError
from interactions.services import consent_grant
from messaging.compliance.engine import state_of_address, state_of_number
from messaging.compliance.jurisdictions import JURISDICTIONS
from messaging.models import Message
from messaging.services import message_queue, message_send, messages_release_scheduled
from tests.factories import (
    FacilityFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
    WorkflowFactory,
    WorkflowStepFactory,
)
from workflows.materialise import workflows_materialise
from workflows.models import StepRun, Workflow
from workflows.services import enrollment_start


def _person(facility, number, **address):
    phone = PhoneNumberFactory(lead__facility=facility, number=number, **{f"lead__{k}": v for k, v in address.items()})
    consent_grant(organization=facility.organization, number=number, source="web_form", evidence="form")
    return phone


def _refusal(phone, at) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        message_queue(phone_number=phone, sent_by=None, body="Hi", now=at)
    return caught.value


def _sends(phone, at) -> bool:
    return message_queue(phone_number=phone, sent_by=None, body="Hi", now=at).status == Message.Status.QUEUED


MIAMI = "+13055550142"  # Florida, Eastern time
TULSA = "+19185550142"  # Oklahoma, Central
BALTIMORE = "+14105550142"  # Maryland, Eastern
HARTFORD = "+18605550142"  # Connecticut, Eastern
AUSTIN = "+15125550142"  # Texas, Central
DENVER = "+13035550142"  # Colorado: federal rules only


@pytest.fixture
def site(org):
    return FacilityFactory(organization=org, name="Lakeside Miami", time_zone="America/New_York")


# Thursday, January 15, 2026: EST is UTC-5, CST UTC-6.
@pytest.mark.parametrize(
    ("number", "opens_utc", "closes_utc"),
    [
        (MIAMI, (13, 0), (1, 0)),  # Florida 08:00–20:00 EST
        (TULSA, (14, 0), (2, 0)),  # Oklahoma 08:00–20:00 CST
        (BALTIMORE, (13, 0), (1, 0)),  # Maryland 08:00–20:00 EST
        (HARTFORD, (14, 0), (1, 0)),  # Connecticut 09:00–20:00 EST
        (AUSTIN, (15, 0), (3, 0)),  # Texas 09:00–21:00 CST on a weekday
        (DENVER, (15, 0), (4, 0)),  # federal 08:00–21:00 MST
    ],
)
def test_each_window_opens_on_the_minute_and_closes_on_the_minute(site, number, opens_utc, closes_utc):
    phone = _person(site, number)
    opens = datetime(2026, 1, 15, *opens_utc, tzinfo=UTC)
    closes = datetime(2026, 1, 16, *closes_utc, tzinfo=UTC)
    refusal = _refusal(phone, opens.replace(minute=59, hour=opens.hour - 1))
    assert refusal.code == "quiet_hours" and refusal.extra["next_allowed_at"] == opens
    assert _sends(phone, opens)
    Message.objects.all().delete()
    assert _sends(
        phone,
        closes.replace(minute=59, hour=closes.hour - 1) if closes.hour else closes.replace(day=15, hour=23, minute=59),
    )
    Message.objects.all().delete()
    assert _refusal(phone, closes).code == "quiet_hours"


def test_texas_opens_at_noon_on_sunday_and_nine_on_saturday(site):
    phone = _person(site, AUSTIN)
    sunday_11_59 = datetime(2026, 1, 18, 17, 59, tzinfo=UTC)  # 11:59 CST Sunday
    refusal = _refusal(phone, sunday_11_59)
    assert refusal.extra["next_allowed_at"] == datetime(2026, 1, 18, 18, 0, tzinfo=UTC)
    assert "Texas law (by the area code) allows texts 12:00 PM–9:00 PM their time" in refusal.message
    assert _sends(phone, datetime(2026, 1, 18, 18, 0, tzinfo=UTC))
    assert _sends(phone, datetime(2026, 1, 17, 15, 0, tzinfo=UTC))  # Saturday 09:00


def test_a_florida_number_at_eight_thirty_pm_is_refused_naming_florida_and_when_it_opens(site):
    phone = _person(site, MIAMI)
    refusal = _refusal(phone, datetime(2026, 1, 16, 1, 30, tzinfo=UTC))  # 20:30 EST Thursday
    assert refusal.code == "quiet_hours" and refusal.extra["jurisdiction"] == "FL"
    assert "Florida law (by the area code) allows texts 8:00 AM–8:00 PM" in refusal.message
    assert refusal.extra["next_allowed_at"] == datetime(2026, 1, 16, 13, 0, tzinfo=UTC)  # 08:00 EST Friday
    assert "Fri Jan 16, 8:00 AM EST" in refusal.message


def test_the_fourth_text_in_24_hours_to_oklahoma_is_refused_with_when_it_can_go(site):
    phone = _person(site, TULSA)
    times = [datetime(2026, 1, 15, h, 0, tzinfo=UTC) for h in (15, 17, 19)]  # 09:00, 11:00, 13:00 CST
    for at in times:
        assert _sends(phone, at)
    refusal = _refusal(phone, datetime(2026, 1, 15, 21, 0, tzinfo=UTC))
    assert refusal.code == "frequency_cap" and refusal.extra["jurisdiction"] == "OK"
    assert refusal.extra["next_allowed_at"] == times[0].replace(day=16)  # the first leaves the 24 hours
    assert "Oklahoma law (by the area code) allows 3 texts" in refusal.message
    assert _sends(phone, times[0].replace(day=16))


def test_the_fourth_text_to_florida_waits_for_the_window_too(site):
    phone = _person(site, MIAMI)
    for hour in (22, 23):
        assert _sends(phone, datetime(2026, 1, 15, hour, 0, tzinfo=UTC))
    assert _sends(phone, datetime(2026, 1, 16, 0, 30, tzinfo=UTC))  # 19:30 EST
    refusal = _refusal(phone, datetime(2026, 1, 16, 0, 45, tzinfo=UTC))
    assert refusal.code == "frequency_cap"
    # The cap frees at 17:00 EST Friday, inside Friday's window.
    assert refusal.extra["next_allowed_at"] == datetime(2026, 1, 16, 22, 0, tzinfo=UTC)


def test_the_opt_out_confirmation_and_texts_that_never_left_do_not_count(site):
    phone = _person(site, MIAMI)
    at = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
    for _ in range(3):
        message = message_queue(phone_number=phone, sent_by=None, body="Hi", now=at)
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED)  # refused before the provider
    assert _sends(phone, at)


def test_an_address_in_florida_and_a_texas_area_code_are_held_to_both(site):
    phone = _person(site, AUSTIN, state="FL")
    # Thursday 20:30 CST: Texas allows until 21:00, Florida (their address, in either zone) does not.
    refusal = _refusal(phone, datetime(2026, 1, 16, 2, 30, tzinfo=UTC))
    assert refusal.extra["jurisdiction"] == "FL"
    assert "Florida law (by their address)" in refusal.message
    # Thursday 08:30 CST: Florida is open, Texas not until 09:00.
    refusal = _refusal(phone, datetime(2026, 1, 15, 14, 30, tzinfo=UTC))
    assert refusal.extra["jurisdiction"] == "TX"
    assert refusal.extra["next_allowed_at"] == datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
    # And Florida's cap holds for the Texas number.
    for hour in (15, 16, 17):
        assert _sends(phone, datetime(2026, 1, 15, hour, 0, tzinfo=UTC))
    assert _refusal(phone, datetime(2026, 1, 15, 18, 0, tzinfo=UTC)).code == "frequency_cap"


def test_a_zip_code_names_the_state_when_the_state_is_blank(site):
    phone = _person(site, DENVER, postal_code="73301")  # Austin's IRS ZIP
    assert state_of_address(postal_code="73301") == "TX"
    assert _refusal(phone, datetime(2026, 1, 15, 15, 30, tzinfo=UTC)).extra["jurisdiction"] == "TX"  # 08:30 MST


def test_the_area_code_tables_name_the_states():
    assert [state_of_number(p) for p in map(_parse, (MIAMI, TULSA, BALTIMORE, HARTFORD, AUSTIN, DENVER))] == [
        "FL",
        "OK",
        "MD",
        "CT",
        "TX",
        "",
    ]
    assert all(j.citation and j.source_url.startswith("https://") for j in JURISDICTIONS.values())


def _parse(number):
    from phonenumber_field.phonenumber import to_python

    return to_python(number)


def test_an_organization_can_tighten_but_never_loosen(site, org):
    org.quiet_hours_start, org.quiet_hours_end = time(0, 0), time(23, 59)
    org.save()
    phone = _person(site, MIAMI)
    assert _refusal(phone, datetime(2026, 1, 16, 1, 30, tzinfo=UTC)).extra["jurisdiction"] == "FL"
    org.quiet_hours_start, org.quiet_hours_end, org.daily_text_cap = time(10, 0), time(17, 0), 1
    org.save()
    phone.refresh_from_db()
    refusal = _refusal(phone, datetime(2026, 1, 15, 14, 30, tzinfo=UTC))  # 09:30 EST
    assert refusal.extra["jurisdiction"] == "ORG" and "Lakeside Storage's own texting hours" in refusal.message
    assert _sends(phone, datetime(2026, 1, 15, 15, 0, tzinfo=UTC))
    assert _refusal(phone, datetime(2026, 1, 15, 16, 0, tzinfo=UTC)).code == "frequency_cap"


def test_a_german_mobile_is_held_to_the_federal_window_in_berlin_time(site):
    phone = _person(site, "+4915205550125")
    assert _sends(phone, datetime(2026, 1, 15, 7, 0, tzinfo=UTC))  # 08:00 in Berlin
    assert _refusal(phone, datetime(2026, 1, 15, 20, 0, tzinfo=UTC)).extra["jurisdiction"] == "US"  # 21:00


def test_a_florida_workflow_text_at_eight_thirty_pm_goes_at_eight_the_next_morning(site, org, outbox):
    phone = _person(site, MIAMI)
    template = MessageTemplateFactory(organization=org, name="Follow up", body="Hi {{ first_name }}")
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(0, 0), template=template)
    with freeze_time("2026-01-16T01:30:00Z"):  # 20:30 EST
        enrollment_start(workflow=workflow, owner=phone.lead, source="agent")
        workflows_materialise()
    run = StepRun.objects.get()
    assert (run.outcome, run.refusal_code) == ("text_scheduled", "quiet_hours")
    assert run.message.send_at == datetime(2026, 1, 16, 13, 0, tzinfo=UTC)  # 08:00 EST
    with freeze_time("2026-01-16T13:00:05Z"):
        assert messages_release_scheduled() == 1
        message_send(message_id=run.message.pk)
    run.message.refresh_from_db()
    assert run.message.status == Message.Status.SENT and len(outbox) == 1


def test_a_queued_text_to_a_full_cap_is_held_at_claim_time_not_dropped(site, outbox):
    phone = _person(site, TULSA)
    at = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
    waiting = [message_queue(phone_number=phone, sent_by=None, body=f"Hi {i}", now=at) for i in range(3)]
    Message.objects.create(  # a fourth went out from elsewhere meanwhile (e.g. a racing request)
        organization=phone.organization,
        to_number=phone.number,
        body="x",
        status=Message.Status.SENT,
        sent_at=at,
        phone_number=phone,
        lead=phone.lead,
    )
    with freeze_time(at):
        for message in waiting:
            message_send(message_id=message.pk)
    statuses = sorted(Message.objects.filter(pk__in=[m.pk for m in waiting]).values_list("status", "error_code"))
    assert statuses == [("scheduled", "frequency_cap"), ("sent", ""), ("sent", "")]


# --- the home page's "Texting now" asks the same engine --------------------------------------


def test_texting_now_on_the_home_list_follows_the_state_laws(site):
    from interactions.selectors import people_search
    from messaging.selectors import texting_now

    miami, austin = _person(site, MIAMI).lead, _person(site, AUSTIN).lead
    people = people_search(organization=site.organization)
    thursday_830pm_est = datetime(2026, 1, 16, 1, 30, tzinfo=UTC)  # 19:30 in Austin
    now = texting_now(organization=site.organization, people=people, now=thursday_830pm_est)
    assert (now[f"lead-{miami.pk}"].allowed, now[f"lead-{miami.pk}"].reason) == (False, "quiet hours until 8:00 AM")
    assert (now[f"lead-{austin.pk}"].allowed, now[f"lead-{austin.pk}"].reason) == (True, "until 9:00 PM")

    sunday_11am_cst = datetime(2026, 1, 18, 17, 0, tzinfo=UTC)
    now = texting_now(organization=site.organization, people=people, now=sunday_11am_cst)
    assert now[f"lead-{austin.pk}"].reason == "quiet hours until 12:00 PM"
    assert now[f"lead-{miami.pk}"].reason == "until 8:00 PM"


def test_texting_now_shows_a_full_florida_cap(site):
    from interactions.selectors import people_search
    from messaging.selectors import texting_now

    miami = _person(site, MIAMI).lead
    for hour in (14, 15, 16):
        assert _sends(miami.phone_numbers.get(), datetime(2026, 1, 15, hour, 0, tzinfo=UTC))
    people = people_search(organization=site.organization)
    now = texting_now(organization=site.organization, people=people, now=datetime(2026, 1, 15, 17, 0, tzinfo=UTC))
    assert now[f"lead-{miami.pk}"].reason == "daily cap reached until 9:00 AM"  # Friday 09:00 EST


def test_a_workflow_text_to_a_full_florida_cap_is_scheduled_for_when_it_may_go(site, org):
    phone = _person(site, MIAMI)
    for hour in (14, 15, 16):  # 09:00, 10:00, 11:00 EST
        assert _sends(phone, datetime(2026, 1, 15, hour, 0, tzinfo=UTC))
    template = MessageTemplateFactory(organization=org, name="Follow up", body="Hi {{ first_name }}")
    workflow = WorkflowFactory(organization=org, kind=Workflow.Kind.LEAD_FOLLOW_UP)
    WorkflowStepFactory(workflow=workflow, day_offset=0, time_of_day=time(0, 0), template=template)
    with freeze_time("2026-01-15T18:00:00Z"):
        enrollment_start(workflow=workflow, owner=phone.lead, source="agent")
        workflows_materialise()
    run = StepRun.objects.get()
    assert (run.outcome, run.refusal_code) == ("text_scheduled", "frequency_cap")
    assert run.message.send_at == datetime(2026, 1, 16, 14, 0, tzinfo=UTC)  # the first text leaves the 24 hours
