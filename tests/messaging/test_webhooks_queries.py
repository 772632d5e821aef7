"""The Twilio webhooks' SQL, pinned: at saturation their latency is CPU per request, and each
statement costs the ORM's compilation on top of the database's work (bench/notes-webhooks.md).

Counted: the webhook's own statements (savepoints and transaction control left out, which the
test's transaction turns into savepoints). The listeners that run once the transaction commits
(``message_status_changed`` → integrations' webhook events) are counted apart: they are the
integrations app's (``event_publish``), and they run after the answer's data is stored.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from interactions.models import History
from messaging.models import Message
from tests.factories import MessageFactory

from .twilio_payloads import payload, post_inbound, post_status

pytestmark = pytest.mark.django_db

OUT_SID = payload("status_delivered")["MessageSid"]


def _statements(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"]
        .upper()
        .startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT"))
    ]


def _webhook(post, django_capture_on_commit_callbacks):
    """Post once; the webhook's own statements, and the on-commit callbacks it left (not run)."""
    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as captured:
        response = post()
    assert response.status_code == 200
    return _statements(captured), callbacks


def _verbs(statements: list[str]) -> list[str]:
    return [" ".join(sql.split()[:3]) if sql.startswith(("INSERT", "UPDATE")) else sql.split()[0] for sql in statements]


def test_a_plain_inbound_text_takes_six_statements_and_a_persons_first_seven(
    client, consented_number, django_capture_on_commit_callbacks
):
    statements, callbacks = _webhook(lambda: post_inbound(client, "inbound_sms"), django_capture_on_commit_callbacks)

    # The facility (and its organization) by the To number, the records holding the From number,
    # the text, the person's conversation summary (one UPDATE; the person's first text finds no row
    # and inserts it), the number confirmed by the reply, the History entry. No read of the text's
    # SID first (the unique SID refuses a repeat), no "last texted from" read with one holder.
    assert _verbs(statements) == [
        "SELECT",
        "SELECT",
        'INSERT INTO "messaging_message"',
        'UPDATE "messaging_conversation" SET',
        'INSERT INTO "messaging_conversation"',
        'UPDATE "interactions_phonenumber" SET',
        'INSERT INTO "interactions_history"',
    ], "\n".join(statements)
    assert 'FROM "interactions_facility"' in statements[0] and "ORDER BY" not in statements[0]
    assert len(callbacks) == 1  # message_status_changed, once committed
    message = Message.objects.get(provider_sid=payload("inbound_sms")["MessageSid"])
    assert History.objects.filter(lead=consented_number.lead, kind=History.Kind.TEXT).count() == 1
    assert (message.lead_id, message.phone_number_id, message.facility_id) == (
        consented_number.lead_id,
        consented_number.pk,
        consented_number.lead.facility_id,
    )


def test_a_repeated_inbound_text_stores_nothing_and_takes_four_statements(
    client, consented_number, django_capture_on_commit_callbacks
):
    post_inbound(client, "inbound_sms")

    statements, callbacks = _webhook(lambda: post_inbound(client, "inbound_sms"), django_capture_on_commit_callbacks)

    # Facility, holders, the INSERT the unique SID refuses, the stored text read back.
    assert _verbs(statements) == ["SELECT", "SELECT", 'INSERT INTO "messaging_message"', "SELECT"], "\n".join(
        statements
    )
    assert callbacks == []  # nothing announced: nothing changed
    assert Message.objects.filter(provider_sid=payload("inbound_sms")["MessageSid"]).count() == 1
    assert History.objects.filter(lead=consented_number.lead, kind=History.Kind.TEXT).count() == 1


def test_a_status_callback_takes_two_statements_and_a_repeat_one(
    client, consented_number, django_capture_on_commit_callbacks
):
    message = MessageFactory(phone_number=consented_number, status=Message.Status.SENT, provider_sid=OUT_SID)

    statements, callbacks = _webhook(
        lambda: post_status(client, "status_delivered"), django_capture_on_commit_callbacks
    )

    # The row locked by its SID (no ORDER BY: the SID is unique), then its new status.
    assert _verbs(statements) == ["SELECT", 'UPDATE "messaging_message" SET'], "\n".join(statements)
    assert "ORDER BY" not in statements[0]
    assert len(callbacks) == 1  # message_status_changed, once committed
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED

    statements, callbacks = _webhook(
        lambda: post_status(client, "status_delivered"), django_capture_on_commit_callbacks
    )

    assert _verbs(statements) == ["SELECT"], "\n".join(statements)  # already delivered: nothing written
    assert callbacks == []
