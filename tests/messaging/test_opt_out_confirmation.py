"""The one confirmation text after an opt-out (FCC 24-24): exactly one, within 5 minutes, never marketing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from freezegun import freeze_time

from interactions.models import ConsentEvent
from interactions.services import consent_revoke, consent_status
from messaging.models import Message
from messaging.services import message_send, unsubscribe_link_get_or_create, unsubscribe_link_use
from tests.messaging.twilio_payloads import INBOUND_URL, payload, post, post_inbound

PERSON = "+15125550142"
NOON_THURSDAY = "2026-01-15T18:00:00Z"  # noon in Austin: every window open
CONFIRMATION = "Lakeside Storage: You're unsubscribed and won't get more texts. Reply START to resubscribe."


def confirmations():
    return Message.objects.exclude(confirms_event=None)


@pytest.mark.django_db
@freeze_time(NOON_THURSDAY)
def test_stop_texting_me_revokes_and_gets_exactly_one_confirmation(client, consented_number, outbox):
    post_inbound(client, "inbound_plain_words", Body="Stop texting me")
    post_inbound(client, "inbound_plain_words", Body="Stop texting me")  # Twilio retries the webhook

    state = consent_status(organization=consented_number.organization, number=PERSON)
    assert state.person_opted_out and state.source == "sms_words"
    confirmation = confirmations().get()
    assert confirmation.body == CONFIRMATION and "/u/" not in confirmation.body  # no link, no offer
    message_send(message_id=confirmation.pk)
    assert [m["body"] for m in outbox] == [CONFIRMATION]


@pytest.mark.django_db
@freeze_time(NOON_THURSDAY)
def test_a_second_stop_is_the_same_revocation_and_gets_no_second_confirmation(client, consented_number):
    post_inbound(client, "inbound_stop")
    post_inbound(client, "inbound_stop", MessageSid="SM" + "9" * 32, Body="STOP")
    assert ConsentEvent.objects.filter(action="revoke").count() == 2
    assert confirmations().count() == 1


@pytest.mark.django_db
@freeze_time(NOON_THURSDAY)
@pytest.mark.parametrize("how", ["keyword", "link", "agent"])
def test_each_way_a_person_opts_out_gets_the_confirmation(client, consented_number, agent, how):
    org = consented_number.organization
    if how == "keyword":
        post_inbound(client, "inbound_stop")
    elif how == "link":
        unsubscribe_link_use(token=unsubscribe_link_get_or_create(organization=org, number=PERSON).token)
    else:
        consent_revoke(organization=org, number=PERSON, source="agent", actor=agent, evidence="asked on the phone")
    assert confirmations().get().status == Message.Status.QUEUED


@pytest.mark.django_db
@freeze_time(NOON_THURSDAY)
def test_the_carrier_and_the_api_get_no_confirmation(consented_number, agent):
    org = consented_number.organization
    consent_revoke(organization=org, number=PERSON, source="carrier", evidence="21610")
    assert not confirmations().exists()


@pytest.mark.django_db
@freeze_time(NOON_THURSDAY)
def test_a_keyword_stop_is_left_to_twilio_when_it_replies_itself(client, consented_number):
    org = consented_number.organization
    org.twilio_replies_to_stop = True
    org.save()
    post_inbound(client, "inbound_stop")
    assert not confirmations().exists()
    post_inbound(client, "inbound_start")
    post_inbound(client, "inbound_plain_words", Body="please unsubscribe me", MessageSid="SM" + "8" * 32)
    assert confirmations().count() == 1  # plain words: Twilio does not see them as a keyword


@pytest.mark.django_db
@freeze_time(NOON_THURSDAY)
def test_the_organization_words_the_confirmation(client, consented_number):
    org = consented_number.organization
    org.opt_out_confirmation_text = "Lakeside: no more texts. Text START to come back."
    org.save()
    post_inbound(client, "inbound_stop")
    assert confirmations().get().body == "Lakeside: no more texts. Text START to come back."


@pytest.mark.django_db
def test_a_confirmation_later_than_five_minutes_is_never_sent(client, consented_number, outbox):
    with freeze_time(NOON_THURSDAY):
        post_inbound(client, "inbound_stop")
    with freeze_time("2026-01-15T18:05:01Z"):  # the worker was down for five minutes
        message_send(message_id=confirmations().get().pk)
    assert confirmations().get().status == Message.Status.FAILED
    assert outbox == []


@pytest.mark.django_db
def test_a_stop_at_night_gets_no_confirmation_outside_texting_hours(client, consented_number):
    with freeze_time(datetime(2026, 1, 15, 5, 0, tzinfo=UTC)):  # 23:00 in Austin
        post_inbound(client, "inbound_stop")
    confirmation = confirmations().get()  # kept as the record of why none went
    assert (confirmation.status, confirmation.error_code) == (Message.Status.FAILED, "quiet_hours")


@pytest.mark.postgres(reason="parallel webhooks race on PostgreSQL row locks")
@pytest.mark.django_db(transaction=True)
@freeze_time(NOON_THURSDAY, tick=True)
def test_parallel_webhooks_of_the_same_stop_make_exactly_one_confirmation(consented_number):
    from django.test import Client

    start = threading.Barrier(4)
    answers = []

    def deliver(sid: str) -> None:
        try:
            start.wait()
            answers.append(post(Client(), INBOUND_URL, payload("inbound_plain_words", Body="STOP!!", MessageSid=sid)))
        finally:
            connection.close()

    # Twice the same webhook, twice a STOP sent twice by the person: one revocation, one confirmation.
    sids = ["SM" + "1" * 32, "SM" + "1" * 32, "SM" + "2" * 32, "SM" + "3" * 32]
    threads = [threading.Thread(target=deliver, args=(sid,)) for sid in sids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [a.status_code for a in answers] == [200] * 4
    assert confirmations().count() == 1


# --- flagged requests: due in 10 business days, overdue first and counted ---------------------


@pytest.mark.django_db
def test_a_flagged_request_is_due_in_ten_business_days_and_overdue_ones_come_first(
    client, agent_client, consented_number
):
    from django.urls import reverse

    from tests.factories import PhoneNumberFactory

    with freeze_time("2026-01-02T15:00:00Z"):  # a Friday
        post_inbound(client, "inbound_plain_words", Body="Can I cancel my reservation?", MessageSid="SM" + "4" * 32)
    PhoneNumberFactory(lead__facility=consented_number.lead.facility, number="+15125550177")
    with freeze_time("2026-01-14T15:00:00Z"):
        post_inbound(
            client, "inbound_plain_words", Body="Stop by tomorrow?", From="+15125550177", MessageSid="SM" + "5" * 32
        )
    old, new = Message.objects.filter(flagged_opt_out_request=True).order_by("received_at")
    assert old.opt_out_due_at == datetime(2026, 1, 16, 15, 0, tzinfo=UTC)  # two weekends skipped
    assert new.opt_out_due_at == datetime(2026, 1, 28, 15, 0, tzinfo=UTC)
    assert not consent_status(organization=consented_number.organization, number=PERSON).is_revoked

    with freeze_time("2026-01-20T15:00:00Z"):
        html = agent_client.get(reverse("outstanding_inbound"), HTTP_HX_REQUEST="true").content.decode()
    assert "1 overdue" in html
    assert html.index("Can I cancel my reservation?") < html.index("Stop by tomorrow?")
    assert "Overdue since Jan 16" in html


def test_business_days_are_counted_on_the_facilitys_calendar_when_utcs_is_a_day_ahead():
    from zoneinfo import ZoneInfo

    from messaging.keywords import opt_out_due

    chicago = ZoneInfo("America/Chicago")
    sunday_night = datetime(2026, 12, 6, 21, 16, tzinfo=chicago)  # already Monday 03:16 in UTC
    assert opt_out_due(sunday_night.astimezone(UTC)).astimezone(chicago).date() == datetime(2026, 12, 20).date()
    due = opt_out_due(sunday_night.astimezone(UTC), chicago).astimezone(chicago)
    assert (due.date(), due.weekday()) == (datetime(2026, 12, 18).date(), 4)  # Friday, ten weekdays on
    friday = datetime(2026, 1, 2, 15, 0, tzinfo=UTC)  # the same weekday in both: the same due date
    assert opt_out_due(friday, chicago) == opt_out_due(friday)


@pytest.mark.django_db
def test_a_flagged_request_sent_on_a_sunday_night_is_due_by_the_facilitys_calendar(client, consented_number):
    with freeze_time("2026-12-07T03:16:00Z"):  # Sunday 9:16 PM in the facility's Chicago
        post_inbound(client, "inbound_plain_words", Body="Can I cancel my reservation?", MessageSid="SM" + "6" * 32)
    reply = Message.objects.get(flagged_opt_out_request=True)
    assert reply.opt_out_due_at == datetime(2026, 12, 19, 3, 16, tzinfo=UTC)  # Fri Dec 18, 9:16 PM CST


def _flagged_replies(client, facility, count: int) -> None:
    from tests.factories import PhoneNumberFactory

    for n in range(count):
        number = f"+1512555{n + 300:04d}"
        PhoneNumberFactory(lead__facility=facility, number=number)
        post_inbound(
            client,
            "inbound_plain_words",
            Body=f"Can I cancel my reservation? (unit {n})",
            From=number,
            MessageSid=f"SM{n:032d}",
        )


@pytest.mark.django_db
def test_the_flagged_list_reads_its_people_with_the_replies_and_says_when_it_shows_only_the_first(
    client, agent_client, consented_number, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from messaging.views import outstanding

    def page() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            html = agent_client.get(reverse("outstanding_inbound"), HTTP_HX_REQUEST="true").content.decode()
        return html, len(queries)

    facility = consented_number.lead.facility
    _flagged_replies(client, facility, 1)
    _, one = page()
    _flagged_replies(client, facility, 4)
    html, five = page()
    assert five == one  # no query per row: a reply's person and facility come with it
    assert "(unit 3)" in html and "are shown" not in html

    monkeypatch.setattr(outstanding, "LIMIT", 2)
    monkeypatch.setattr(outstanding, "COUNT_CAP", 3)
    html = page()[0]
    assert '<span class="count-badge">3+</span>' in html
    assert "The 2 due first are shown" in html


@pytest.mark.django_db
def test_texts_from_unknown_numbers_are_counted_past_the_ones_listed(
    client, agent_client, consented_number, monkeypatch
):
    from django.urls import reverse

    from messaging.views import outstanding

    for n in range(3):
        post_inbound(client, Body=f"Who is this? ({n})", From=f"+1512555{n + 700:04d}", MessageSid=f"SU{n:032d}")
    monkeypatch.setattr(outstanding, "LIMIT", 2)
    html = agent_client.get(reverse("outstanding_inbound"), HTTP_HX_REQUEST="true").content.decode()
    assert 'From unknown numbers <span class="count-badge">3</span>' in html
    assert "The newest 2 are shown." in html
