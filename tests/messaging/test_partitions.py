"""Texts partitioned by month on PostgreSQL (messaging/partitions.py, migration messaging 0021): each text in
its month's partition, the uniqueness of SIDs and Idempotency-Keys as exact as on one table, partitions
made ahead, and a past month dropped whole by the retention after its export."""

from __future__ import annotations

import datetime
import gzip
import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from messaging.models import IdempotencyKey, Message
from messaging.partitions import (
    DEFAULT,
    message_partitions_ensure,
    month_partition,
    month_partitions,
    partitioned,
)
from messaging.services import messages_retention_purge
from ops.models import OutboxDelta
from tests.factories import MessageFactory, OrganizationFactory, PhoneNumberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres(reason="declarative partitions are PostgreSQL's")]


def _where(text: Message) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM messaging_message WHERE id = %s", [text.pk])
        return cursor.fetchone()[0]


def _moved(text: Message, when: datetime.datetime) -> Message:
    Message.objects.filter(pk=text.pk).update(created_at=when)
    text.refresh_from_db()
    return text


def test_texts_are_a_partitioned_table_with_a_partition_per_month_from_this_one_to_three_ahead():
    assert partitioned()
    now = timezone.now()
    names = {p.name for p in month_partitions()}
    ahead = [month_partition(now + datetime.timedelta(days=31 * n)).name for n in range(4)]
    assert set(ahead) <= names
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [DEFAULT])
        assert cursor.fetchone()[0]


def test_a_text_is_stored_in_its_months_partition_and_found_by_id():
    text = MessageFactory(status=Message.Status.DELIVERED)
    assert _where(text) == month_partition(text.created_at).name
    assert Message.objects.get(pk=text.pk).body == "Hello"


def test_a_provider_sid_already_stored_in_another_month_is_refused():
    past = timezone.now() - datetime.timedelta(days=70)
    message_partitions_ensure(since=past)
    first = _moved(MessageFactory(status=Message.Status.SENT, provider_sid="SM-once"), past)
    assert _where(first) == month_partition(past).name

    with pytest.raises(IntegrityError, match="message_provider_sid_unique"), transaction.atomic():
        MessageFactory(status=Message.Status.SENT, provider_sid="SM-once")
    with pytest.raises(IntegrityError, match="message_provider_sid_unique"), transaction.atomic():
        Message.objects.filter(pk=MessageFactory(status=Message.Status.SENT).pk).update(provider_sid="SM-once")


def test_a_sid_is_free_again_once_its_text_is_deleted():
    MessageFactory(status=Message.Status.SENT, provider_sid="SM-gone").delete()
    assert MessageFactory(status=Message.Status.SENT, provider_sid="SM-gone").pk


def test_an_idempotency_key_is_unique_per_organization_across_months():
    phone = PhoneNumberFactory()
    past = timezone.now() - datetime.timedelta(days=40)
    message_partitions_ensure(since=past)
    _moved(MessageFactory(phone_number=phone, idempotency_key="k-1"), past)

    with pytest.raises(IntegrityError, match="message_idempotency_key_unique_per_org"), transaction.atomic():
        MessageFactory(phone_number=phone, idempotency_key="k-1")
    other = PhoneNumberFactory(organization=OrganizationFactory())
    assert MessageFactory(phone_number=other, idempotency_key="k-1").pk  # another organization's key


def test_partitions_are_created_ahead_once():
    later = timezone.now() + datetime.timedelta(days=150)
    created = message_partitions_ensure(now=later)
    assert created and month_partition(later + datetime.timedelta(days=62)).name in created
    assert message_partitions_ensure(now=later) == []
    with connection.cursor() as cursor:  # the partition's indexes carry the parent's names
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [created[-1]])
        assert f"message_org_created{created[-1][len('messaging_message') :]}" in {r[0] for r in cursor.fetchall()}


def _exported(folder) -> list[dict]:
    rows = []
    for path in sorted(folder.iterdir()):
        with gzip.open(path, "rt") as lines:
            rows.extend(json.loads(line) for line in lines)
    return rows


def test_the_retention_drops_a_past_month_whole_after_exporting_it(tmp_path):
    old = timezone.now() - datetime.timedelta(days=430)
    month = month_partition(old)
    message_partitions_ensure(since=old)
    texts = [
        _moved(MessageFactory(status=Message.Status.DELIVERED, provider_sid=f"SM-old-{n}", body=f"old {n}"), old)
        for n in range(3)
    ]
    key = IdempotencyKey.objects.create(organization=texts[0].organization, key="k", fingerprint="f", message=texts[0])
    young = MessageFactory(status=Message.Status.DELIVERED)
    OutboxDelta.objects.all().delete()

    assert messages_retention_purge(days=365, directory=tmp_path) == 3

    assert month.name not in {p.name for p in month_partitions()}
    assert sorted(r["body"] for r in _exported(tmp_path)) == ["old 0", "old 1", "old 2"]
    assert list(Message.objects.values_list("pk", flat=True)) == [young.pk]
    key.refresh_from_db()
    assert key.message_id is None  # SET_NULL, as a delete does
    assert MessageFactory(status=Message.Status.SENT, provider_sid="SM-old-0").pk  # its SID let go
    # The outbox ledger lost the three texts, as row deletes would have told it.
    assert sum(OutboxDelta.objects.filter(status="delivered").values_list("texts", flat=True)) == -3


def test_a_past_month_holding_a_text_still_kept_is_left_to_row_deletes(tmp_path):
    old = timezone.now() - datetime.timedelta(days=430)
    month = month_partition(old)
    message_partitions_ensure(since=old)
    gone = _moved(MessageFactory(status=Message.Status.DELIVERED), old)
    waiting = _moved(MessageFactory(status=Message.Status.SCHEDULED), old)  # on its way: kept

    assert messages_retention_purge(days=365, directory=tmp_path) == 1

    assert month.name in {p.name for p in month_partitions()}
    assert not Message.objects.filter(pk=gone.pk).exists() and Message.objects.filter(pk=waiting.pk).exists()
