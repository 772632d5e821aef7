"""The daily housekeeping: old texts exported then deleted (when a retention is set), sign-in records and
stale heartbeats purged, each purge on its own."""

from __future__ import annotations

import datetime
import gzip
import json
import os

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from interactions.models import ConsentEvent
from messaging.models import IdempotencyKey, Media, Message, MessageMedia
from messaging.services import media_create, messages_retention_purge
from ops.models import Heartbeat
from ops.services import BEAT, heartbeat_record, heartbeats_purge, housekeeping_run, login_attempts_purge
from tests.factories import MessageFactory, PhoneNumberFactory, ReplyFactory
from tests.pictures import jpeg

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def _aged(text: Message, days: int) -> Message:
    Message.objects.filter(pk=text.pk).update(created_at=timezone.now() - days * DAY)
    return text


def _exported(folder) -> list[dict]:
    rows = []
    for path in sorted(folder.iterdir()):
        with gzip.open(path, "rt") as lines:
            rows.extend(json.loads(line) for line in lines)
    return rows


def test_without_a_retention_nothing_is_deleted_nor_written(tmp_path, settings):
    assert settings.MESSAGE_RETENTION_DAYS == 0  # the default: texts are kept
    _aged(MessageFactory(status=Message.Status.DELIVERED), 4000)

    assert messages_retention_purge(directory=tmp_path) == 0
    assert Message.objects.count() == 1 and not list(tmp_path.iterdir())


def test_texts_past_the_retention_are_written_to_the_export_then_deleted(tmp_path, settings, monkeypatch):
    settings.MESSAGE_RETENTION_DAYS = 365
    phone = PhoneNumberFactory()
    old = [
        _aged(MessageFactory(phone_number=phone, status=Message.Status.DELIVERED, body="Gate code 4411"), 400),
        _aged(ReplyFactory(phone_number=phone, body="thanks"), 500),
        _aged(MessageFactory(phone_number=phone, status=Message.Status.FAILED, error_code="30003"), 366),
    ]
    kept = [
        _aged(MessageFactory(phone_number=phone, status=Message.Status.DELIVERED), 300),  # young enough
        _aged(MessageFactory(phone_number=phone, status=Message.Status.SCHEDULED), 400),  # still on its way
        _aged(ReplyFactory(phone_number=phone, flagged=True), 400),  # a request no agent resolved
    ]
    event = ConsentEvent.objects.create(
        organization=phone.organization,
        number=phone.number,
        action=ConsentEvent.Action.REVOKE,
        source=ConsentEvent.Source.SMS_KEYWORD,
    )
    kept.append(_aged(MessageFactory(phone_number=phone, status=Message.Status.DELIVERED, confirms_event=event), 400))
    key = IdempotencyKey.objects.create(organization=phone.organization, key="k1", fingerprint="f", message=old[0])
    present_when_written = []
    real_fsync = os.fsync

    def fsync(fd):
        present_when_written.append(Message.objects.filter(pk__in=[t.pk for t in old]).count())
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    assert messages_retention_purge(directory=tmp_path) == 3

    assert present_when_written == [3]  # on disk before any was deleted
    assert set(Message.objects.values_list("pk", flat=True)) == {t.pk for t in kept}
    rows = _exported(tmp_path)
    assert sorted(r["id"] for r in rows) == sorted(t.pk for t in old)
    first = next(r for r in rows if r["id"] == old[0].pk)
    assert first["body"] == "Gate code 4411" and first["to_number"] == phone.number.as_e164
    assert first["organization_id"] == phone.organization_id and "search" not in first
    key.refresh_from_db()
    assert key.message_id is None  # what pointed at a deleted text lets go of it


def test_a_text_with_a_picture_is_exported_naming_it_and_deleted_and_the_picture_kept(tmp_path, settings):
    settings.MESSAGE_RETENTION_DAYS = 365
    phone = PhoneNumberFactory()
    picture = media_create(organization=phone.organization, file=SimpleUploadedFile("gate.jpg", jpeg()))
    text = _aged(MessageFactory(phone_number=phone, status=Message.Status.DELIVERED), 400)
    MessageMedia.objects.create(organization=phone.organization, message=text, media=picture, position=0)

    assert messages_retention_purge(directory=tmp_path) == 1

    assert not Message.objects.filter(pk=text.pk).exists() and not MessageMedia.objects.exists()
    assert Media.objects.filter(pk=picture.pk).exists()
    assert [r["media"] for r in _exported(tmp_path)] == [[picture.pk]]


def test_the_daily_housekeeping_runs_every_purge_even_when_one_fails(settings, caplog):
    settings.HOUSEKEEPING_PURGES = [
        "ops.services.heartbeats_purge",
        "no.such.purge",
        "ops.services.login_attempts_purge",
    ]
    heartbeat_record(name="renamed-job", now=timezone.now() - 40 * DAY)

    removed = housekeeping_run()

    assert removed == {"ops.services.heartbeats_purge": 1, "no.such.purge": -1, "ops.services.login_attempts_purge": 0}
    assert "no.such.purge failed" in caplog.text


def test_old_heartbeats_are_purged_but_never_the_beats_own():
    long_ago = timezone.now() - 40 * DAY
    heartbeat_record(name=BEAT, now=long_ago)
    heartbeat_record(name="renamed-job", now=long_ago)
    heartbeat_record(name="fresh-job")

    assert heartbeats_purge() == 1
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {BEAT, "fresh-job"}


def test_sign_in_records_past_their_retention_are_purged(settings):
    settings.LOGIN_ATTEMPT_RETENTION_DAYS = 90
    fields = {"user_agent": "x", "ip_address": "10.0.0.1", "username": "pat", "http_accept": "*/*", "path_info": "/"}
    for model, extra in (
        (AccessLog, {}),
        (AccessFailureLog, {}),
        (AccessAttempt, {"get_data": "", "post_data": "", "failures_since_start": 3}),
    ):
        old = model.objects.create(**fields, **extra)
        model.objects.filter(pk=old.pk).update(attempt_time=timezone.now() - 91 * DAY)
        model.objects.create(**{**fields, "username": "sam"}, **extra)

    assert login_attempts_purge() == 3
    assert AccessLog.objects.count() == AccessFailureLog.objects.count() == AccessAttempt.objects.count() == 1
