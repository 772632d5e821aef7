"""The outbox tally keeps /metrics' totals from the changes since its last run, equal to a full recount."""

from __future__ import annotations

import random
import threading

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import Message
from ops.models import OutboxDelta, OutboxTally
from ops.services import outbox_count, outbox_tally_record
from tests.factories import MessageFactory, PhoneNumberFactory, ReplyFactory

pytestmark = pytest.mark.postgres(reason="the ledger of changes is written by a PostgreSQL trigger")


def _sent(phone, **fields) -> Message:
    now = timezone.now()
    return MessageFactory(phone_number=phone, status=Message.Status.SENT, queued_at=now, sent_at=now, **fields)


@pytest.mark.django_db
def test_a_run_adds_the_changes_since_the_last_one_without_reading_the_texts():
    phone = PhoneNumberFactory()
    now = timezone.now()
    queued = MessageFactory(phone_number=phone, status=Message.Status.QUEUED, queued_at=now)
    sent = _sent(phone)
    doomed = _sent(phone)
    ReplyFactory(phone_number=phone)  # inbound: not the outbox's
    outbox_tally_record()  # the first run counts everything

    queued.save(update_fields=queued.move_to(Message.Status.SENDING, now=now))
    sent.save(update_fields=sent.move_to(Message.Status.UNDELIVERED, now=now, error_code="30003"))
    Message.objects.filter(pk=doomed.pk).delete()
    _sent(phone)
    MessageFactory(phone_number=phone, status=Message.Status.FAILED, error_code="", queued_at=now)
    with CaptureQueriesContext(connection) as captured:
        tally = outbox_tally_record()

    assert not [q["sql"] for q in captured.captured_queries if "messaging_message" in q["sql"]]
    assert tally.totals == outbox_count()
    assert tally.totals["by_status"] == {"sending": 1, "undelivered": 1, "sent": 1, "failed": 1}
    assert tally.totals["failed"] == {"30003": 1, "unknown": 1}
    assert (tally.totals["queued"], tally.totals["sent"]) == (4, 2)
    assert not OutboxDelta.objects.exists()  # each change is added once


@pytest.mark.django_db
def test_changes_that_do_not_move_a_count_leave_no_trace():
    text = _sent(PhoneNumberFactory())
    outbox_tally_record()

    Message.objects.filter(pk=text.pk).update(body="Edited", provider_sid="SMx1", updated_at=timezone.now())

    assert not OutboxDelta.objects.exists()


@pytest.mark.django_db
def test_totals_counted_before_the_ledger_existed_are_counted_again():
    """The migration drops the old totals; without a row, the next run recounts (and empties the ledger)."""
    phone = PhoneNumberFactory()
    _sent(phone)
    _sent(phone)
    OutboxTally.objects.all().delete()

    tally = outbox_tally_record()

    assert tally.totals == outbox_count() and tally.totals["sent"] == 2
    assert not OutboxDelta.objects.exists()


def _churn(ids: list[int], stop: threading.Event, seed: int) -> None:
    """A worker: texts moving through the pipeline, new ones queued, some failing, until ``stop``."""
    rng = random.Random(seed)
    steps = [
        (Message.Status.SENDING, {}),
        (Message.Status.SENT, {}),
        (Message.Status.DELIVERED, {}),
        (Message.Status.UNDELIVERED, {"error_code": "30003"}),
        (Message.Status.FAILED, {"error_code": "21211"}),
    ]
    try:
        while not stop.is_set():
            status, fields = rng.choice(steps)
            chosen = rng.sample(ids, 3)
            Message.objects.filter(pk__in=chosen).move_to(status, now=timezone.now(), **fields)
            if rng.random() < 0.2:
                ids.append(_sent(PhoneNumberFactory()).pk)
    finally:
        close_old_connections()
        connection.close()


def _tallies(stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            outbox_tally_record()
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_the_totals_equal_a_full_recount_while_texts_change_concurrently():
    phone = PhoneNumberFactory()
    now = timezone.now()
    ids = [MessageFactory(phone_number=phone, status=Message.Status.QUEUED, queued_at=now).pk for _ in range(60)]
    outbox_tally_record()
    stop = threading.Event()
    workers = [threading.Thread(target=_churn, args=(list(ids), stop, seed)) for seed in range(3)]
    workers += [threading.Thread(target=_tallies, args=(stop,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    stop.wait(3.0)
    stop.set()
    for worker in workers:
        worker.join()

    tally = outbox_tally_record()

    assert tally.totals == outbox_count()
    assert sum(tally.totals["by_status"].values()) > 60  # the workers queued more while it ran
