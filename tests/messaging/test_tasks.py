"""The Celery tasks are thin: they call the services and decide retries."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.utils import timezone

from messaging import tasks
from messaging.models import Message
from messaging.services import message_queue
from tests.factories import MessageFactory


def test_send_message_survives_a_worker_crash_by_design():
    assert tasks.send_message.acks_late is True
    assert tasks.send_message.reject_on_worker_lost is True


def test_run_eagerly_a_throttled_send_waits_for_its_slot_instead_of_failing(
    twilio_server, consented_number, agent, open_all_day, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = message_queue(phone_number=consented_number, sent_by=agent, body="One")
        second = message_queue(phone_number=consented_number, sent_by=agent, body="Two")
    assert set(Message.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"sent"}
    one, two = sorted(r.at for r in twilio_server.sends())
    assert two - one >= 1.0


def test_the_sweeper_tasks_run_the_services(consented_number, open_all_day, outbox):
    due = MessageFactory(phone_number=consented_number, status="scheduled", send_at=timezone.now())
    assert tasks.release_scheduled.delay().get() == 1
    due.refresh_from_db()
    assert due.status == "queued"
    assert tasks.requeue_stuck.delay().get() == 0
    assert tasks.reconcile_stuck.delay().get() == 0


def test_every_beat_entry_names_a_registered_task(settings):
    from config.celery import app

    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(app.tasks)


def test_make_run_releases_scheduled_texts_without_beat(consented_number, open_all_day, outbox):
    """``make run`` has no broker or beat: run_periodic_tasks plays beat's part in-process."""
    from django.core.management import call_command

    due = MessageFactory(phone_number=consented_number, status="scheduled", send_at=timezone.now())
    later = MessageFactory(
        phone_number=consented_number, status="scheduled", send_at=timezone.now() + timedelta(hours=1)
    )

    call_command("run_periodic_tasks", once=True, stdout=StringIO())

    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == "queued"
    assert later.status == "scheduled"
