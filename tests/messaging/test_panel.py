"""The card's text panel views: tenancy, the counter, templates, send and its refusals, the
conversation fragment, Add New and "record text permission"."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from interactions.models import ConsentEvent, PhoneNumber
from interactions.services import consent_grant, consent_revoke
from messaging.models import Message
from messaging.services import message_preview
from messaging.services.compose import compliance_refusal
from tests.conftest import close_texting_window
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    MessageFactory,
    MessageTemplateFactory,
    PhoneNumberFactory,
)

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, phone: PhoneNumber) -> str:
    return reverse(name, args=[phone.pk])


# --- tenancy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("text_panel", "get"),
        ("text_preview", "post"),
        ("text_send", "post"),
        ("text_conversation", "get"),
        ("text_consent_record", "post"),
    ],
)
def test_panel_endpoints_answer_404_for_another_organizations_number(agent_client, other_org_number, name, method):
    response = getattr(agent_client, method)(url(name, other_org_number), {"body": "hi", "note": "said yes"}, **HX)
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_template_of_another_organization_answers_404(agent_client, consented_number, other_org):
    template = MessageTemplateFactory(organization=other_org)
    response = agent_client.get(url("text_template", consented_number), {"template": template.pk}, **HX)
    assert response.status_code == 404


def test_add_number_to_another_organizations_record_answers_404(agent_client, other_org_number):
    response = agent_client.post(
        reverse("text_number_add", args=["leads", other_org_number.lead.pk]), {"number": "5125550100"}, **HX
    )
    assert response.status_code == 404
    assert other_org_number.lead.phone_numbers.count() == 1


def test_send_is_refused_without_a_csrf_token(agent, consented_number):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    response = client.post(url("text_send", consented_number), {"body": "Hello"}, **HX)
    assert response.status_code == 403
    assert not Message.objects.exists()


# --- opening, counting, templates -----------------------------------------------------------


def test_panel_has_the_unsubscribe_note_and_templates_rendered_for_this_person(agent_client, consented_number, org):
    MessageTemplateFactory(organization=org, name="Quote ready", body="Hi {{ first_name }}, your quote is ready.")
    MessageTemplateFactory(organization=org, name="Old one", body="Switched off", active=False)
    html = agent_client.get(url("text_panel", consented_number), **HX).content.decode()
    assert "An unsubscribe link is added to the end of every text." in html
    assert "Quote ready" in html
    assert f"Hi {consented_number.lead.first_name}, your quote is ready." in html
    assert "Old one" not in html
    assert 'id="panel-conversation"' in html  # the panel is the conversation: the whole thread above the box


def test_counter_shows_the_servers_figures_for_the_final_text_with_the_link(agent_client, consented_number):
    body = "Your unit is ready – see you soon"  # the en dash forces UCS-2
    html = agent_client.post(url("text_preview", consented_number), {"body": body}, **HX).content.decode()
    expected = message_preview(phone_number=consented_number, body=body).measure
    assert expected.encoding == "UCS-2"
    assert f'data-characters="{expected.characters}"' in html
    assert f'data-segments="{expected.segments}"' in html
    assert "“–” is not in the GSM-7 alphabet" in html


def test_counter_warns_near_the_limit_and_past_it(agent_client, consented_number):
    near = agent_client.post(url("text_preview", consented_number), {"body": "a" * 1450}, **HX).content.decode()
    assert "Close to the 1,600-character limit" in near
    over = agent_client.post(url("text_preview", consented_number), {"body": "a" * 1600}, **HX).content.decode()
    assert "Over the 1,600-character limit" in over


def test_counter_counts_a_typed_line_break_once(agent_client, consented_number):
    html = agent_client.post(url("text_preview", consented_number), {"body": "a\r\nb"}, **HX).content.decode()
    expected = message_preview(phone_number=consented_number, body="a\nb").measure.characters
    assert f'data-characters="{expected}"' in html


def test_choosing_a_template_fills_the_compose_box_with_the_rendered_text(agent_client, consented_number, org):
    template = MessageTemplateFactory(organization=org, body="Hi {{ first_name }} from {{ facility_name }}.")
    response = agent_client.get(url("text_template", consented_number), {"template": template.pk}, **HX)
    lead = consented_number.lead
    assert response.json() == {
        "template": template.pk,
        "name": template.name,
        "text": f"Hi {lead.first_name} from {lead.facility.name}.",
    }


def test_choosing_an_inactive_template_says_it_is_switched_off(agent_client, consented_number, org):
    template = MessageTemplateFactory(organization=org, name="Winter promo", active=False)
    response = agent_client.get(url("text_template", consented_number), {"template": template.pk}, **HX)
    assert response.status_code == 400
    assert "The template “Winter promo” is switched off" in response.json()["error"]


def test_panel_opened_with_template_and_task_prefills_and_carries_the_task(agent_client, consented_number, org):
    template = MessageTemplateFactory(organization=org, body="Hi {{ first_name }}!")
    html = agent_client.get(url("text_panel", consented_number), {"template": template.pk, "task": "42"}, **HX)
    html = html.content.decode()
    assert f"Hi {consented_number.lead.first_name}!</textarea>" in html
    assert 'name="task" value="42"' in html


# --- sending ---------------------------------------------------------------------------------


def test_send_queues_the_text_clears_the_panel_and_confirms_at_the_top_of_the_card(
    agent_client, consented_number, agent, django_capture_on_commit_callbacks, open_all_day
):
    with django_capture_on_commit_callbacks(execute=True):
        response = agent_client.post(url("text_send", consented_number), {"body": "Your unit is ready."}, **HX)
    html = response.content.decode()
    message = Message.objects.get()
    assert message.sent_by == agent
    assert message.body.startswith("Your unit is ready.\nUnsubscribe: https://textdesk.test/u/")
    assert message.status == Message.Status.SENT  # eager task, locmem backend
    assert 'id="card-confirmation"' in html and 'hx-swap-oob="true"' in html
    assert f"Text sent to {consented_number.lead.full_name} at (512) 555-0142." in html
    assert "Your unit is ready.</textarea>" not in html
    assert "textdesk:sent" in json.loads(response["HX-Trigger"])


def test_send_of_an_unedited_template_records_the_template(agent_client, consented_number, org, open_all_day):
    template = MessageTemplateFactory(organization=org, body="Hi {{ first_name }}!")
    body = f"Hi {consented_number.lead.first_name}!"
    agent_client.post(url("text_send", consented_number), {"body": body, "template": template.pk}, **HX)
    agent_client.post(url("text_send", consented_number), {"body": body + " Edited", "template": template.pk}, **HX)
    unedited, edited = Message.objects.order_by("id")
    assert unedited.template == template
    assert edited.template is None and edited.body.startswith(body + " Edited")


def test_send_without_permission_says_so_and_sends_nothing(agent_client, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550170")
    html = agent_client.post(url("text_send", phone), {"body": "Hello"}, **HX).content.decode()
    assert 'data-refusal="no_consent"' in html
    assert "There is no text permission on record for (512) 555-0170" in html
    assert "Hello</textarea>" in html  # the text is kept
    assert not Message.objects.exists()


def test_send_after_opt_out_gives_the_date_and_how_to_opt_back_in(agent_client, org, consented_number):
    consent_revoke(organization=org, number=consented_number.number, source="sms_keyword", evidence="STOP")
    html = agent_client.post(url("text_send", consented_number), {"body": "Hello"}, **HX).content.decode()
    assert 'data-refusal="opted_out"' in html
    assert "opted out on" in html and "texting START" in html
    assert not Message.objects.filter(confirms_event=None).exists()  # only the opt-out's confirmation


def test_send_outside_quiet_hours_offers_to_schedule_for_the_next_allowed_time(agent_client, org, consented_number):
    close_texting_window(org)
    html = agent_client.post(url("text_send", consented_number), {"body": "Hello"}, **HX).content.decode()
    assert 'data-refusal="quiet_hours"' in html
    assert "The next allowed time is" in html
    assert 'name="send_at"' in html and "Schedule for" in html
    assert not Message.objects.exists()


def test_scheduling_for_the_offered_time_schedules_the_text(agent_client, org, consented_number):
    close_texting_window(org)
    at = compliance_refusal(phone_number=consented_number, at=timezone.now()).extra["next_allowed_at"]
    response = agent_client.post(url("text_send", consented_number), {"body": "Hello", "send_at": at.isoformat()}, **HX)
    message = Message.objects.get()
    assert message.status == Message.Status.SCHEDULED and message.send_at == at
    assert "Text scheduled for" in response.content.decode()


def test_send_of_a_text_over_the_limit_is_refused_as_too_long(agent_client, consented_number, open_all_day):
    html = agent_client.post(url("text_send", consented_number), {"body": "a" * 1600}, **HX).content.decode()
    assert 'data-refusal="too_long"' in html
    assert "the limit is 1,600" in html
    assert not Message.objects.exists()


def test_a_bad_send_time_is_a_clear_refusal(agent_client, consented_number):
    html = agent_client.post(url("text_send", consented_number), {"body": "Hi", "send_at": "tomorrow"}, **HX)
    assert "That send time is not a date and time." in html.content.decode()
    assert not Message.objects.exists()


# --- conversation --------------------------------------------------------------------------


def test_conversation_shows_texts_with_agent_and_status_and_answers_204_when_unchanged(
    agent_client, consented_number, agent
):
    MessageFactory(phone_number=consented_number, body="Hi there", status=Message.Status.SENT, sent_by=agent)
    first = agent_client.get(url("text_conversation", consented_number), **HX)
    html = first.content.decode()
    assert "Hi there" in html and agent.first_name in html and 'data-status="sent"' in html
    version = first.content.decode().split('data-version="')[1].split('"')[0]
    assert agent_client.get(url("text_conversation", consented_number), {"v": version}, **HX).status_code == 204
    Message.objects.update(status=Message.Status.DELIVERED)
    changed = agent_client.get(url("text_conversation", consented_number), {"v": version}, **HX)
    assert changed.status_code == 200 and 'data-status="delivered"' in changed.content.decode()


def test_failure_to_an_unreachable_number_suggests_the_records_other_numbers(agent_client, consented_number):
    PhoneNumberFactory(lead=consented_number.lead, number="+15125550182", is_primary=False)
    MessageFactory(
        phone_number=consented_number,
        status=Message.Status.FAILED,
        error_code="30003",
        error_message="Unreachable destination handset.",
    )
    html = agent_client.get(url("text_conversation", consented_number), **HX).content.decode()
    assert "Unreachable destination handset." in html
    assert "Try another number on the record" in html and "(512) 555-0182" in html


def test_failure_for_another_reason_does_not_suggest_other_numbers(agent_client, consented_number):
    PhoneNumberFactory(lead=consented_number.lead, number="+15125550182", is_primary=False)
    MessageFactory(phone_number=consented_number, status=Message.Status.FAILED, error_code="30007")
    html = agent_client.get(url("text_conversation", consented_number), **HX).content.decode()
    assert "Try another number" not in html


def test_inbound_opt_out_request_in_plain_words_is_highlighted(agent_client, consented_number):
    MessageFactory(
        phone_number=consented_number,
        direction=Message.Direction.INBOUND,
        to_number="+15125550199",
        from_number=consented_number.number,
        body="please don't text me anymore",
        status=Message.Status.RECEIVED,
        flagged_opt_out_request=True,
    )
    html = agent_client.get(url("text_conversation", consented_number), **HX).content.decode()
    assert "msg-flagged" in html and "Reads like a request to stop texting" in html


# --- Add New and record permission -------------------------------------------------------------


def test_add_new_refuses_a_bad_number_inline_and_saves_nothing(agent_client, consented_number):
    lead = consented_number.lead
    html = agent_client.post(
        reverse("text_number_add", args=["leads", lead.pk]), {"number": "12345", "label": "home"}, **HX
    ).content.decode()
    assert "“12345” can’t be texted" in html
    assert 'aria-invalid="true"' in html
    assert lead.phone_numbers.count() == 1


def test_add_new_refuses_a_number_already_on_the_record(agent_client, consented_number):
    lead = consented_number.lead
    html = agent_client.post(
        reverse("text_number_add", args=["leads", lead.pk]), {"number": "(512) 555-0142", "label": "home"}, **HX
    ).content.decode()
    assert "is already saved on" in html
    assert lead.phone_numbers.count() == 1


def test_add_new_on_a_customer_keeps_the_number_here_and_lists_it(agent_client, facility):
    customer = CustomerFactory(facility=facility)
    PhoneNumberFactory(lead=None, customer=customer, number="+15125550160", source=PhoneNumber.Source.PMS)
    html = agent_client.post(
        reverse("text_number_add", args=["customers", customer.pk]), {"number": "512 555 0163", "label": "work"}, **HX
    ).content.decode()
    added = customer.phone_numbers.get(number="+15125550163")
    assert added.source == PhoneNumber.Source.LOCAL and added.label == "work" and not added.is_primary
    assert "Added (512) 555-0163 (Work). It stays in Textdesk and is not sent to the PMS." in html
    assert "Added here" in html


def test_record_permission_needs_a_note(agent_client, facility):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550170")
    html = agent_client.post(url("text_consent_record", phone), {"note": "  "}, **HX).content.decode()
    assert "Say how the person gave permission" in html
    assert not ConsentEvent.objects.filter(number=phone.number).exists()


def test_record_permission_writes_an_agent_grant_with_the_note_and_reloads_the_card(agent_client, facility, agent):
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550170")
    response = agent_client.post(url("text_consent_record", phone), {"note": "Said yes on the call, 3:10 pm"}, **HX)
    assert response["HX-Refresh"] == "true"
    event = ConsentEvent.objects.get(number=phone.number)
    assert (event.source, event.actor, event.evidence) == ("agent", agent, "Said yes on the call, 3:10 pm")


def test_record_permission_after_the_persons_opt_out_is_refused(agent_client, org, consented_number):
    consent_revoke(organization=org, number=consented_number.number, source="unsubscribe_link")
    html = agent_client.post(url("text_consent_record", consented_number), {"note": "said yes"}, **HX)
    assert "Only the person can opt back in, by texting START" in html.content.decode()
    assert not ConsentEvent.objects.filter(source="agent").exists()


def test_schedule_button_shows_the_recipients_local_time_not_the_facilitys(agent_client, org):
    facility = FacilityFactory(organization=org, time_zone="America/New_York")  # the 512 area code is Central
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550175")
    consent_grant(organization=org, number=phone.number, source="web_form", evidence="quote form")
    close_texting_window(org)
    html = agent_client.post(url("text_send", phone), {"body": "Hello"}, **HX).content.decode()
    button = html.split('name="send_at"')[1].split("</button>")[0]
    assert re.search(r"Schedule for \w{3} \w{3} \d+, \d+:\d\d [AP]M C[SD]T", button)


# --- reads ------------------------------------------------------------------------------------


def _texts(phone, count: int) -> None:
    for i in range(count):
        MessageFactory(phone_number=phone, body=f"Text {i}", status=Message.Status.DELIVERED)


def test_the_panel_reads_the_thread_once_for_the_thread_and_its_version(
    agent_client, consented_number, django_assert_num_queries
):
    """The texts are read once and the version (what the poll compares) is computed from them: the
    same fingerprint the poll computes with its own read, so an unchanged thread answers 204."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _texts(consented_number, 3)
    agent_client.get(url("text_panel", consented_number))  # the Conversation row exists from here on
    with CaptureQueriesContext(connection) as few:
        agent_client.get(url("text_panel", consented_number))
    _texts(consented_number, 70)  # past the thread's 60
    with CaptureQueriesContext(connection) as many:
        response = agent_client.get(url("text_panel", consented_number))
    assert len(many) == len(few)  # whatever the history
    latest = [q["sql"] for q in many if 'FROM "messaging_message"' in q["sql"] and "LIMIT 60" in q["sql"]]
    assert len(latest) == 1 and '"messaging_message"."body"' in latest[0]  # the thread's texts, read once

    version = re.search(r'where=panel&amp;v=([0-9a-f]+)"', response.content.decode()).group(1)
    poll = agent_client.get(url("text_conversation", consented_number) + f"?where=panel&v={version}")
    assert poll.status_code == 204


def test_the_panel_and_its_poll_read_the_numbers_and_their_consent_once(agent_client, consented_number):
    """The number's own consent comes with its owner's numbers (not read again on its own); the panel's
    poll, when it renders, reads the numbers once and keeps the version it compared (not computed
    twice); the version fingerprints the consent read with the numbers (no second read)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    PhoneNumberFactory(lead=consented_number.lead, number="+15125550181", is_primary=False, label="home")
    _texts(consented_number, 3)
    agent_client.get(url("text_panel", consented_number))
    for path in (url("text_panel", consented_number), url("text_conversation", consented_number) + "?where=panel&v=x"):
        with CaptureQueriesContext(connection) as queries:
            response = agent_client.get(path)
        assert response.status_code == 200
        sql = [q["sql"] for q in queries]
        assert sum('FROM "interactions_phonenumber"' in q for q in sql) == 2, path  # the number; its owner's
        assert sum('FROM "interactions_consent"' in q for q in sql) == 1, path  # the numbers' (the version's too)
        assert f"To {consented_number.national} · Mobile" in response.content.decode()


def test_the_version_from_the_threads_texts_is_the_polls_version(consented_number, agent):
    from messaging.selectors.conversations import thread_messages, thread_version

    _texts(consented_number, 65)
    failed = Message.objects.filter(lead=consented_number.lead).order_by("-id").first()
    Message.objects.filter(pk=failed.pk).update(status=Message.Status.FAILED, error_code="30003")
    flagged = MessageFactory(
        phone_number=consented_number,
        direction=Message.Direction.INBOUND,
        from_number=consented_number.number,
        to_number="+15125550199",
        status=Message.Status.RECEIVED,
        flagged_opt_out_request=True,
        flag_dismissed_at=timezone.now(),
    )
    person, numbers = consented_number.lead, [consented_number]
    texts = thread_messages(person=person, numbers=numbers)
    assert len(texts) == 60 and texts[0].pk == flagged.pk
    assert thread_version(person=person, numbers=numbers, messages=texts) == thread_version(
        person=person, numbers=numbers
    )


@pytest.mark.parametrize(
    "zone", ["America/Chicago", "America/Los_Angeles", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"]
)
def test_the_threads_timestamp_is_the_date_filters(zone):
    """``thread_time`` writes out ``<time datetime="{{ at|date:'c' }}">{{ at|date:"M j, g:i A T" }}</time>``."""
    import datetime as dt

    from django.template import Context, Template

    both = Template(
        "{% load tz textpanel %}{% timezone zone %}"
        """<time datetime="{{ at|date:'c' }}">{{ at|date:"M j, g:i A T" }}</time>|{{ at|thread_time }}"""
        "{% endtimezone %}"
    )
    moments = [
        dt.datetime(2026, 3, 8, 7, 59, 59, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC),
    ]
    moments += [dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC) + dt.timedelta(hours=h, minutes=7 * h) for h in range(48)]
    for at in [*moments, None]:
        old, new = both.render(Context({"at": at, "zone": zone})).split("|")
        assert new == old, (at, zone)


def test_the_version_changes_with_a_consent_change_read_with_the_numbers(consented_number):
    """The version fingerprints the consent the numbers were read with: a new ledger entry changes it."""
    from interactions.selectors import owner_numbers
    from interactions.services import consent_grant, consent_revoke
    from messaging.selectors.conversations import thread_version

    person = consented_number.lead
    before = thread_version(person=person, numbers=owner_numbers(owner=person))
    assert thread_version(person=person, numbers=owner_numbers(owner=person)) == before
    consent_revoke(organization=person.organization, number=consented_number.number, source="agent", evidence="asked")
    revoked = thread_version(person=person, numbers=owner_numbers(owner=person))
    consent_grant(organization=person.organization, number=consented_number.number, source="agent", evidence="said ok")
    assert len({before, revoked, thread_version(person=person, numbers=owner_numbers(owner=person))}) == 3
