"""The conversation summary the inbox reads never drifts from the texts it summarises.

Texts are written through every service that writes one (an agent's text, a scheduled one, a
workflow's automatic text, the opt-out confirmation, a reply, a flagged reply, a STOP, the demo
data), flags are resolved both ways (not a request, an opt-out), and then each person's stored
summary is compared with ``conversation_summary_of``, which recomputes it from the texts. A source
scan holds the list of writers complete: a new place that creates a text without
``conversation_touch`` fails here.
"""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.errors import ServiceError
from interactions.models import ConsentEvent, Customer, Lead
from interactions.services import consent_grant, consent_revoke
from messaging.models import Conversation, Message
from messaging.selectors import conversation_summary_of, inbox, unread_summary
from messaging.services import (
    conversation_mark_read,
    conversation_mark_unread,
    inbound_receive,
    message_queue,
    reply_flag_dismiss,
)
from tests.factories import CustomerFactory, LeadFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "interactions", "messaging", "workflows", "integrations", "ops")


def _phone(facility, number: str, *, customer: bool = False):
    owner = (
        {"lead": None, "customer": CustomerFactory(facility=facility)}
        if customer
        else {"lead": LeadFactory(facility=facility)}
    )
    phone = PhoneNumberFactory(number=number, **owner)
    consent_grant(organization=facility.organization, number=phone.number, source="web_form", evidence="form")
    return phone


def _receive(phone, body: str, sid: str):
    return inbound_receive(
        provider_sid=sid,
        from_number=phone.number.as_e164,
        to_number=str(phone.owner.facility.sms_sender_number),
        body=body,
    )


def _assert_no_drift(org) -> int:
    """Every person of ``org`` with texts: the stored summary equals the one recomputed from the texts."""
    checked = 0
    people = [*Lead.objects.filter(organization=org), *Customer.objects.filter(organization=org)]
    for person in people:
        expected = conversation_summary_of(person=person)
        stored = Conversation.objects.filter(organization=org, **{person.kind: person}).first()
        if expected["last_message_id"] is None:
            assert stored is None or stored.last_message_id is None, person
            continue
        assert stored is not None, f"{person} has texts and no conversation summary"
        got = {name: getattr(stored, name) for name in expected}
        assert got == expected, person
        assert stored.unread == stored.unread_state() and stored.waiting == stored.waiting_state(), person
        checked += 1
    return checked


def test_every_way_a_text_is_written_keeps_its_conversation_summary(org, facility, agent, open_all_day):
    org.twilio_replies_to_stop = False  # the opt-out confirmation is ours to send
    org.save()
    answered = _phone(facility, "+15125550101")
    scheduled = _phone(facility, "+15125550102", customer=True)
    automated = _phone(facility, "+15125550103")
    flagged = _phone(facility, "+15125550104")
    stopped = _phone(facility, "+15125550105", customer=True)
    dismissed = _phone(facility, "+15125550106")

    _receive(answered, "Is the 10x10 free?", "SM0001")
    message_queue(phone_number=answered, sent_by=agent, body="Yes, it is")
    _receive(answered, "Great, thanks", "SM0002")  # waiting on us again, and unread
    message_queue(phone_number=scheduled, sent_by=agent, body="Later", send_at=timezone.now() + dt.timedelta(days=1))
    message_queue(phone_number=automated, sent_by=None, body="Your payment is due")  # a workflow's text
    _receive(automated, "Paid it yesterday", "SM0003")
    _receive(flagged, "please don't text me anymore", "SM0004")
    _receive(stopped, "How much is it?", "SM0005")
    _receive(stopped, "STOP", "SM0006")
    reply = _receive(dismissed, "stop texting my husband", "SM0007").message
    reply_flag_dismiss(reply=reply, user=agent, note="Asked about the other unit")
    closed = _phone(facility, "+15125550107")
    _receive(closed, "Can I pay by card?", "SM0008")
    conversation_mark_unread(person=closed.lead)
    message_queue(phone_number=closed, sent_by=agent, body="Yes, at the desk")  # answered: neither waiting nor unread
    consent_revoke(organization=org, number=flagged.number, source=ConsentEvent.Source.AGENT, evidence="phone call")
    conversation_mark_read(person=answered.lead, user=agent)

    from messaging.demo import seed_messaging

    seed_messaging(org)  # the demo's stored past goes through the same summary

    kinds = Message.objects.filter(organization=org)
    assert kinds.filter(status="scheduled").exists() and kinds.filter(confirms_event__isnull=False).exists()
    assert kinds.filter(flagged_opt_out_request=True).count() >= 2
    assert _assert_no_drift(org) >= 6
    conversations = {c.owner.pk: c for c in Conversation.objects.filter(organization=org)}
    assert not conversations[flagged.lead.pk].flagged  # the opt-out answered the request
    assert not conversations[dismissed.lead.pk].flagged  # "not a request"
    assert conversations[automated.lead.pk].waiting and conversations[automated.lead.pk].unread
    assert not conversations[closed.lead.pk].waiting and not conversations[closed.lead.pk].unread


def _writes(queries) -> list[str]:
    return [q["sql"] for q in queries if not q["sql"].lstrip().startswith(("SELECT", "SAVEPOINT", "RELEASE"))]


def test_a_number_texted_before_is_texted_in_one_statement_that_keeps_the_summary(org, facility, agent, open_all_day):
    """The common send (its number has its unsubscribe link, now, no pictures): the text, its history
    entry and the summary in one statement on PostgreSQL (``core.fastsql.insert``'s ``then``); a person
    whose summary row is missing gets it from the same statement; the summary equals the texts."""
    phone = _phone(facility, "+15125550121")
    message_queue(phone_number=phone, sent_by=agent, body="First")  # makes the number's link
    _receive(phone, "Is it free?", "SM0121")
    with CaptureQueriesContext(connection) as queries:
        message_queue(phone_number=phone, sent_by=agent, body="Yes")
    message_queue(phone_number=phone, sent_by=None, body="Your payment is due")  # a workflow's text
    moved_to = LeadFactory(facility=facility)
    phone.lead = moved_to  # the number now belongs to someone without texts: no summary row yet
    phone.save()
    with CaptureQueriesContext(connection) as first:
        message_queue(phone_number=phone, sent_by=agent, body="Hello")
    if connection.vendor == "postgresql":
        for captured in (queries, first):
            [statement] = _writes(captured)
            assert statement.startswith("WITH") and "then0 AS (UPDATE" in statement and "then1 AS (INSERT" in statement
    assert _assert_no_drift(org) == 2
    summary = Conversation.objects.get(lead=moved_to)
    assert summary.last_message.body.startswith("Hello") and summary.answered_at == summary.last_at


def test_a_repeated_key_on_the_one_statement_path_is_refused_and_writes_nothing(org, facility, agent, open_all_day):
    phone = _phone(facility, "+15125550122")
    message_queue(phone_number=phone, sent_by=agent, body="First")
    message_queue(phone_number=phone, sent_by=agent, body="Keyed", idempotency_key="k-1")
    with pytest.raises(ServiceError) as refused:
        message_queue(phone_number=phone, sent_by=agent, body="Keyed again", idempotency_key="k-1")
    assert refused.value.code == "duplicate" and refused.value.status == 409
    assert not Message.objects.filter(body__startswith="Keyed again").exists()
    assert _assert_no_drift(org) == 1


def test_a_flagged_reply_puts_the_conversation_under_stop_requests_until_resolved(org, facility, agent, open_all_day):
    phone = _phone(facility, "+15125550111")
    reply = _receive(phone, "Can I cancel my reservation?", "SM0011").message
    assert [r.person for r in inbox(organization=org, user=agent, show="flagged")] == [phone.lead]
    reply_flag_dismiss(reply=reply, user=agent, note="Meant the newsletter")
    assert inbox(organization=org, user=agent, show="flagged") == []
    _assert_no_drift(org)


def test_the_backfill_writes_what_conversation_touch_keeps(org, facility, agent, open_all_day):
    """The data migration's summaries (for texts stored before the summary existed) equal the kept ones."""
    from importlib import import_module

    backfill = import_module("messaging.migrations.0013_conversation_summary_backfill").backfill
    a, b = _phone(facility, "+15125550121"), _phone(facility, "+15125550122", customer=True)
    _receive(a, "Hello?", "SM0021")
    message_queue(phone_number=a, sent_by=agent, body="Hi!")
    _receive(b, "remove me from your list", "SM0022")
    conversation_mark_read(person=b.customer, user=agent)
    kept = {c.pk: c for c in Conversation.objects.filter(organization=org)}
    Conversation.objects.filter(organization=org).update(
        last_message=None, last_at=None, last_inbound=None, last_inbound_at=None, answered_at=None,
        unread=False, waiting=False, flagged=False,
    )  # fmt: skip
    backfill(apps, None)
    fields = ("last_message_id", "last_at", "last_inbound_id", "last_inbound_at", "answered_at", "unread", "waiting",
              "flagged", "read_at")  # fmt: skip
    for c in Conversation.objects.filter(organization=org):
        assert {f: getattr(c, f) for f in fields} == {f: getattr(kept[c.pk], f) for f in fields}
    assert unread_summary(organization=org).count == 0  # a was answered, b was read


def _writes_texts(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "Message":
                return True
            creates = isinstance(func, ast.Attribute) and func.attr in {"create", "bulk_create", "get_or_create"}
            if creates and "Message.objects" in ast.unparse(func):
                return True
    return False


def test_every_module_that_writes_a_text_keeps_the_summary():
    """A module of the app that builds or creates a ``Message`` also calls ``conversation_touch``."""
    writers, missing = [], []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            source = path.read_text()
            if "Message" not in source or not _writes_texts(ast.parse(source)):
                continue
            if path.name == "failures.py":  # builds an unsaved Message only to read a code's meaning
                continue
            writers.append(path.relative_to(ROOT).as_posix())
            if "conversation_touch(" not in source:
                missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"these write texts without conversation_touch: {missing}"
    assert set(writers) >= {
        "messaging/services/compose.py",
        "messaging/services/inbound.py",
        "messaging/services/confirmation.py",
        "messaging/demo.py",
    }
