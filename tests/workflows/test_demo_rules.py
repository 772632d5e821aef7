"""The demo data obeys the rules it demonstrates, checked by the app's own rules (not a copy of them).

``seed_demo`` stores a past (texts, replies, opt-outs) without living through it, so nothing stopped it
from writing a text before its consent, at 2 AM, or an opt-out nobody asked for. Each check below asks
the function the app itself asks: the consent ledger (``consent_history``), the one "may this person be
texted now?" (``recipient_rules``, ``send_refusal``, ``texts_counted``), the keyword and plain-words
rules (``keyword_classify``, ``opt_out_words_classify``), the status stamps (``Message.STAMPS``) and the
unsubscribe link (``LINK_PREFIX``, ``unsubscribe_link_by_token``).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from interactions.models import ConsentEvent, Customer, Lead
from interactions.selectors import consent_history
from messaging.compliance.engine import recipient_rules, send_refusal, texts_counted
from messaging.keywords import Keyword, OptOutWords, keyword_classify, opt_out_due, opt_out_words_classify
from messaging.models import Message
from messaging.selectors import unsubscribe_link_by_token
from messaging.services import LINK_PREFIX

pytestmark = pytest.mark.django_db

# A seeded event and the text that caused it are written a moment apart.
SAME_MOMENT = timedelta(seconds=5)


@pytest.fixture
def demo(settings):
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = False  # the laws' own hours, as make run has them
    call_command("seed_demo", verbosity=0)
    return list(Message.objects.select_related("organization", "facility", "lead", "customer").order_by("id"))


def _outbound(texts: list[Message]) -> list[Message]:
    # The opt-out confirmation (FCC 24-24) is the one text allowed after a revocation, and carries no link.
    return [m for m in texts if m.direction == Message.Direction.OUTBOUND and m.confirms_event_id is None]


def _owner(message: Message) -> Lead | Customer | None:
    return message.lead or message.customer


def _permission_at(message: Message, moment) -> str:
    ledger = consent_history(organization=message.organization, number=message.to_number)
    before = [event for event in ledger if event.created_at <= moment]
    return before[0].action if before else "none"


def test_every_seeded_text_went_out_with_text_permission_at_that_moment(demo):
    wrong = []
    for message in _outbound(demo):
        for moment in filter(None, (message.created_at, message.sent_at)):
            if _permission_at(message, moment) != ConsentEvent.Action.GRANT:
                wrong.append(
                    f"{message.pk} to {message.to_number} at {moment:%H:%M}: {_permission_at(message, moment)}"
                )
    assert not wrong, wrong


def test_no_seeded_text_went_out_in_quiet_hours_or_over_a_cap(demo):
    wrong = []
    for message in _outbound(demo):
        moment = message.sent_at or message.send_at or message.created_at  # when it went, or is to go
        recipient = recipient_rules(
            organization=message.organization,
            number=message.to_number,
            facility=message.facility,
            owner=_owner(message),
        )
        sent = texts_counted(
            organization=message.organization, number=message.to_number, until=moment, exclude_id=message.pk
        )
        refusal = send_refusal(recipient=recipient, at=moment, sent=sent)
        if refusal is not None:
            wrong.append(f"{message.pk} at {moment.astimezone(recipient.tz):%a %H:%M %Z}: {refusal.message}")
    assert not wrong, wrong


def test_every_status_has_its_time_and_the_times_are_in_order(demo):
    wrong = []
    now = timezone.now()
    for message in demo:
        stamp = Message.STAMPS.get(message.status)
        if stamp and getattr(message, stamp) is None:
            wrong.append(f"{message.pk} is {message.status} without {stamp}")
        if message.status == Message.Status.DELIVERED and message.sent_at is None:
            wrong.append(f"{message.pk} is delivered but never sent")
        times = [getattr(message, f) for f in ("created_at", "sent_at", "delivered_at") if getattr(message, f)]
        if times != sorted(times) or max(times) > now:
            wrong.append(f"{message.pk}: created, sent and delivered out of order or in the future {times}")
    assert not wrong, wrong


def test_every_opt_out_by_text_has_the_text_that_asked_for_it(demo):
    keyword_events = ConsentEvent.objects.filter(
        action=ConsentEvent.Action.REVOKE, source__in=[ConsentEvent.Source.SMS_KEYWORD, ConsentEvent.Source.SMS_WORDS]
    )
    assert keyword_events.exists(), "the demo shows a person's own STOP"
    replies = [m for m in demo if m.direction == Message.Direction.INBOUND]
    missing = []
    for event in keyword_events:
        asked = [
            m
            for m in replies
            if m.from_number == event.number
            and abs((m.received_at or m.created_at) - event.created_at) <= SAME_MOMENT
            and abs(m.created_at - event.created_at) <= SAME_MOMENT
            and (
                keyword_classify(m.body) == Keyword.STOP
                if event.source == ConsentEvent.Source.SMS_KEYWORD
                else opt_out_words_classify(m.body) == OptOutWords.REVOKE
            )
        ]
        if not asked:
            missing.append(f"{event.number} opted out by {event.source} at {event.created_at:%H:%M} with no such text")
    assert not missing, missing


def test_flagged_replies_are_what_the_app_would_flag(demo):
    for message in demo:
        if message.direction != Message.Direction.INBOUND:
            continue
        assert message.received_at is not None, message.pk
        flagged = opt_out_words_classify(message.body) == OptOutWords.FLAG
        assert message.flagged_opt_out_request == flagged, message.body
        if flagged:
            assert message.opt_out_due_at == opt_out_due(message.received_at)


def test_every_seeded_text_ends_with_its_own_unsubscribe_link(demo):
    for message in _outbound(demo):
        assert LINK_PREFIX in message.body, message.pk
        token = message.body.rsplit("/u/", 1)[-1]
        link = unsubscribe_link_by_token(token=token)
        assert link is not None, message.body
        assert (link.organization_id, link.number) == (message.organization_id, message.to_number)


def test_leads_and_customers_have_names_of_their_own(demo):
    names = Counter(
        f"{first} {last}"
        for model in (Lead, Customer)
        for first, last in model.objects.values_list("first_name", "last_name")
    )
    shared = {name: count for name, count in names.items() if count > 1}
    assert not shared, shared
