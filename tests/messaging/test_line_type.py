"""Line type: looked up (Twilio Lookup v2 through the real SDK) when a number is added, and again
before a text once the stored answer is old; a landline is not textable before anything is sent.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import PhoneNumber
from interactions.services import consent_grant, phone_number_add
from messaging.backends.console import demo_line_type
from messaging.services import line_types_lookup_pending, message_queue
from tests.api.conftest import token_client
from tests.factories import LeadFactory, PhoneNumberFactory

LANDLINE = "+15125550188"


@pytest.fixture
def lead(facility):
    return LeadFactory(facility=facility)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs what the block queued on commit (the lookup task, the send), as a request would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def add(committed):
    """``add(lead, number)``: a number added through the service (its lookup run on commit), with permission."""

    def run(lead, number: str) -> PhoneNumber:
        with committed():
            phone = phone_number_add(owner=lead, number=number)
        consent_grant(organization=lead.organization, number=phone.number, source="web_form", evidence="quote form")
        return PhoneNumber.objects.get(pk=phone.pk)

    return run


@pytest.mark.parametrize(
    ("twilio_type", "stored", "textable"),
    [
        ("mobile", "mobile", True),
        ("landline", "landline", False),
        ("fixedVoip", "fixed_voip", True),
        ("nonFixedVoip", "non_fixed_voip", True),
        ("tollFree", "toll_free", True),
        ("personal", "personal", True),
        ("pager", "pager", False),
        ("voicemail", "voicemail", False),
        ("unknown", "unknown", True),
        ("premium", "unknown", True),
    ],
)
def test_adding_a_number_looks_up_its_line_type(twilio_server, lead, twilio_type, stored, textable, add):
    twilio_server.set_line_type(LANDLINE, twilio_type, carrier="Acme Telecom")

    phone = add(lead, "(512) 555-0188")

    [lookup] = twilio_server.lookups(number=LANDLINE)
    assert lookup.params["Fields"] == "line_type_intelligence"
    assert (phone.line_type, phone.line_type_carrier) == (stored, "Acme Telecom")
    assert phone.line_type_checked_at is not None and not phone.line_type_demo
    assert (phone.not_textable == "") is textable


def test_a_landline_is_not_textable_before_any_text_is_sent(twilio_server, lead, open_all_day, add):
    twilio_server.set_line_type(LANDLINE, "landline")
    phone = add(lead, LANDLINE)

    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=phone, sent_by=None, body="Hello")

    assert refused.value.code == "not_textable"
    assert "(512) 555-0188 is a landline and can’t receive texts" in refused.value.message
    assert twilio_server.sends() == []


def test_the_api_refuses_a_landline_with_not_textable(twilio_server, lead, agent, open_all_day, committed):
    twilio_server.set_line_type(LANDLINE, "landline")
    api = token_client(agent)
    with committed():
        created = api.post("/api/v1/phone-numbers/", {"lead": lead.pk, "number": LANDLINE}, format="json")
    assert created.status_code == 201
    consent_grant(organization=lead.organization, number=LANDLINE, source="web_form", evidence="quote form")

    response = api.post("/api/v1/messages/", {"phone_number": created.json()["id"], "body": "Hi"}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("not_textable", "phone_number")
    assert "landline" in response.json()["detail"]


def test_a_pms_import_looks_up_the_imported_numbers(twilio_server, facility, tmp_path, committed):
    twilio_server.set_line_type(LANDLINE, "landline")
    path = tmp_path / "customers.csv"
    path.write_text(
        "facility,pms_id,first_name,last_name,unit,balance_due,phone,phone_home,phone_work\n"
        f"{facility.name},C-100,Maria,Garcia,A101,45.00,(512) 555-0142,{LANDLINE},\n"
    )

    with committed():
        call_command("import_pms_customers", str(path), organization=facility.organization.slug, stdout=StringIO())

    assert {r.params["number"] for r in twilio_server.lookups()} == {"+15125550142", LANDLINE}
    assert PhoneNumber.objects.get(number=LANDLINE).line_type == "landline"


def test_a_fresh_line_type_is_not_looked_up_again_before_a_text(twilio_server, lead, open_all_day, add, committed):
    phone = add(lead, "+15125550142")
    assert len(twilio_server.lookups()) == 1

    with committed():
        message_queue(phone_number=phone, sent_by=None, body="Hello")
        message_queue(phone_number=phone, sent_by=None, body="Hello again")

    assert len(twilio_server.lookups()) == 1  # the stored answer is used
    assert len(twilio_server.sends()) == 2


def test_an_old_line_type_is_looked_up_again_before_the_next_text(twilio_server, lead, open_all_day, settings, add):
    phone = add(lead, LANDLINE)  # a mobile when added
    PhoneNumber.objects.filter(pk=phone.pk).update(
        line_type_checked_at=timezone.now() - timedelta(days=settings.LINE_TYPE_MAX_AGE_DAYS + 1)
    )
    phone.refresh_from_db()
    twilio_server.set_line_type(LANDLINE, "landline")  # ported to a landline since

    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=phone, sent_by=None, body="Hello")

    assert refused.value.code == "not_textable"
    assert len(twilio_server.lookups()) == 2
    phone.refresh_from_db()
    assert phone.line_type == "landline"
    assert phone.line_type_checked_at > timezone.now() - timedelta(minutes=1)


def test_a_failed_lookup_never_blocks_a_text_and_is_retried_later(twilio_server, lead, open_all_day, add, committed):
    twilio_server.fail_next_lookup(500, times=2)  # when added, and again before the text
    phone = add(lead, "+15125550142")
    assert phone.line_type_checked_at is None

    with committed():
        message = message_queue(phone_number=phone, sent_by=None, body="Hello")
    message.refresh_from_db()
    assert message.status == "sent"

    # The periodic task finds it later (numbers added a moment ago are left to their own task).
    assert line_types_lookup_pending(now=timezone.now() + timedelta(minutes=10)) == 1
    phone.refresh_from_db()
    assert phone.line_type == "mobile"
    assert len(twilio_server.lookups()) == 3


def test_with_lookups_switched_off_nothing_is_looked_up(twilio_server, lead, open_all_day, settings, add):
    settings.LINE_TYPE_LOOKUP = False

    phone = add(lead, LANDLINE)
    message_queue(phone_number=phone, sent_by=None, body="Hello")
    line_types_lookup_pending(now=timezone.now() + timedelta(minutes=10))

    assert twilio_server.lookups() == []


def test_the_demo_lookup_is_deterministic_and_labelled(lead, settings, add):
    settings.SMS_BACKEND = "console"

    phone = add(lead, "(512) 555-0910")
    mobile = add(lead, "(512) 555-0142")

    assert demo_line_type("+15125550910").line_type == "landline"
    assert demo_line_type("+15125550850").line_type == "pager"
    assert (phone.line_type, phone.line_type_demo) == ("landline", True)
    assert "is a landline (demo lookup)" in phone.not_textable
    assert mobile.line_type == "mobile" and mobile.not_textable == ""


def test_the_card_disables_the_text_icon_of_a_landline_added_by_the_agent(twilio_server, agent_client, lead, committed):
    twilio_server.set_line_type(LANDLINE, "landline")
    PhoneNumberFactory(lead=lead, number="+15125550142")
    consent_grant(organization=lead.organization, number="+15125550142", source="web_form", evidence="quote form")

    with committed():
        agent_client.post(f"/text/leads/{lead.pk}/numbers/", {"number": "(512) 555-0188", "label": "home"})
    response = agent_client.get(f"/leads/{lead.pk}/")

    html = response.content.decode()
    assert 'aria-label="Text (512) 555-0188: not allowed"' in html
    tip = html.split('aria-label="Text (512) 555-0188: not allowed"')[1].split("</span></span>")[0]
    assert "(512) 555-0188 is a landline and can’t receive texts" in tip
    assert 'aria-label="Text (512) 555-0142 (primary)"' in html  # the mobile stays textable


def test_a_number_twilio_cannot_look_up_is_stored_as_unknown_and_not_asked_again(twilio_server, lead, add):
    twilio_server.fail_next_lookup(21211)  # Twilio's own answer for this number, not an outage

    phone = add(lead, "+15125550142")

    assert (phone.line_type, phone.not_textable) == ("unknown", "")
    assert phone.line_type_checked_at is not None
    assert line_types_lookup_pending(now=timezone.now() + timedelta(minutes=10)) == 0
    assert len(twilio_server.lookups()) == 1
