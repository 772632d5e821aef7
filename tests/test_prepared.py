"""Prepared reads (core/prepared.py) give what their querysets give, and ``insert_together``
writes what ``save()`` writes, on both databases."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Concat
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.authentication import _TOKEN
from core.api import OrganizationScopedField
from core.prepared import PreparedQuery, insert_together, prepared_cursor, save_fields, update_by_pk
from interactions.models import History, PhoneNumber
from messaging.models import Message
from messaging.serializers import MessageCreateSerializer
from messaging.services.sending import _CLAIM
from tests.factories import (
    CustomerFactory,
    FacilityFactory,
    MessageFactory,
    OrganizationFactory,
    PhoneNumberFactory,
)

pytestmark = pytest.mark.django_db

JOINS = ("lead__facility", "customer__facility")


def same(a, b) -> None:
    """Equal rows, every field and every related object loaded alike."""
    assert type(a) is type(b) and a.pk == b.pk
    for field in a._meta.concrete_fields:
        assert getattr(a, field.attname) == getattr(b, field.attname), field.name
    for path in JOINS:
        first, second = path.split("__")
        assert a._meta.get_field(first).is_cached(a) == b._meta.get_field(first).is_cached(b)
        ra, rb = getattr(a, first), getattr(b, first)
        assert (ra is None) == (rb is None)
        if ra is not None:
            for field in ra._meta.concrete_fields:
                assert getattr(ra, field.attname) == getattr(rb, field.attname), f"{first}.{field.name}"
            assert getattr(ra, second).pk == getattr(rb, second).pk
            assert getattr(ra, second).time_zone == getattr(rb, second).time_zone


def test_a_number_with_its_owner_and_facility_as_the_queryset_loads_it(consented_number, facility):
    customer_phone = PhoneNumberFactory(lead=None, customer=CustomerFactory(facility=facility), number="+15125550188")
    field = MessageCreateSerializer().fields["phone_number"]
    lookup = field._lookup()
    for phone in (consented_number, customer_phone):
        queryset = PhoneNumber.objects.filter(organization=phone.organization).select_related(*JOINS)
        expected = queryset.get(pk=phone.pk)
        with CaptureQueriesContext(connection) as queries:
            got = lookup.get(organization=phone.organization_id, pk=phone.pk)
            got.lead and got.lead.facility  # noqa: B018 (loaded: no query)
            got.customer and got.customer.facility  # noqa: B018
        assert len(queries) == 1
        same(got, expected)


def test_another_organization_s_number_does_not_exist(consented_number):
    other = FacilityFactory(organization=OrganizationFactory()).organization
    lookup = MessageCreateSerializer().fields["phone_number"]._lookup()
    with pytest.raises(PhoneNumber.DoesNotExist):
        lookup.get(organization=other.pk, pk=consented_number.pk)
    with pytest.raises(PhoneNumber.DoesNotExist):
        lookup.get(organization=consented_number.organization_id, pk=2**70)  # beyond any id: no row, no error
    with pytest.raises(ValueError):
        lookup.get(organization=consented_number.organization_id, pk="twelve")


def test_the_api_token_with_its_user_membership_and_organization(agent):
    token = Token.objects.create(user=agent)
    got = _TOKEN.get(key=token.key)
    assert got.user.pk == token.user.pk and got.user.membership.organization.pk == token.user.membership.organization.pk
    assert got.user.membership.role == token.user.membership.role
    with pytest.raises(Token.DoesNotExist):
        _TOKEN.get(key="0" * 40)


def test_a_value_must_appear_once_in_the_sql():
    prepared = PreparedQuery(lambda pk: PhoneNumber.objects.filter(pk=pk).filter(lead_id=pk), pk=int)
    with pytest.raises(ValueError, match="must appear once"):
        prepared.fetch(pk=1)


def test_the_field_answers_like_a_related_field(consented_number):
    field = OrganizationScopedField(PhoneNumber, select_related=JOINS)
    field.bind("phone_number", MessageCreateSerializer())
    field.parent._context = {"organization": consented_number.organization}
    assert field.to_internal_value(consented_number.pk).pk == consented_number.pk
    assert field.to_internal_value(str(consented_number.pk)).organization == consented_number.organization


def test_the_worker_s_claim_reads_the_text_as_its_queryset(consented_number):
    text = MessageFactory(phone_number=consented_number, facility=consented_number.lead.facility)
    inbound = MessageFactory(phone_number=consented_number, direction=Message.Direction.INBOUND)
    with transaction.atomic():
        [got] = _CLAIM.fetch(pk=text.pk)
        assert _CLAIM.fetch(pk=inbound.pk) == []
    expected = Message.objects.select_related("organization", "facility", "lead", "customer").get(pk=text.pk)
    for field in Message._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(expected, field.attname), field.name
    for relation in ("organization", "facility", "lead"):
        assert getattr(got, relation) == getattr(expected, relation)
    assert got.customer is None


# --- insert_together ---------------------------------------------------------------------------


def _text_and_entry(phone, agent, *, body: str) -> tuple[Message, History]:
    lead = phone.lead
    text = Message(
        organization=phone.organization,
        lead=lead,
        phone_number=phone,
        facility=lead.facility,
        to_number=phone.number,
        body=body,
        sent_by=agent,
        actor_name="Agent One",
        queued_at=timezone.now(),
    )
    entry = History(
        organization_id=phone.organization_id,
        lead=lead,
        kind=History.Kind.TEXT,
        summary=f"Text sent: {body}",
        agent=agent,
        phone_number=phone,
        occurred_at=timezone.now(),
    )
    return text, entry


def _row(obj) -> dict:
    """Every column as stored (read back, not the instance's own values)."""
    return type(obj).objects.filter(pk=obj.pk).values().get()


def test_rows_saved_together_are_what_save_writes(consented_number, agent):
    together = _text_and_entry(consented_number, agent, body="Together")
    one_by_one = _text_and_entry(consented_number, agent, body="Together")
    saved = []
    receiver = lambda sender, instance, created, **kw: saved.append((sender, instance, created))  # noqa: E731
    post_save.connect(receiver, weak=False)
    try:
        with CaptureQueriesContext(connection) as queries:
            insert_together(*together)
    finally:
        post_save.disconnect(receiver)
    for obj in one_by_one:
        obj.save(force_insert=True)
    if connection.vendor == "postgresql":
        assert len(queries) == 1 and queries[0]["sql"].startswith("WITH")  # one statement, no BEGIN/COMMIT
    assert [(sender, created) for sender, _, created in saved] == [(Message, True), (History, True)]
    for got, expected in zip(together, one_by_one, strict=True):
        assert got.pk is not None and got.pk != expected.pk
        assert got._state.adding is False and got._state.db == "default"
        a, b = _row(got), _row(expected)
        for column in ("id", "created_at", "updated_at", "queued_at", "occurred_at"):
            a.pop(column, None), b.pop(column, None)
        assert a == b
    assert together[0].created_at is not None and together[0].updated_at is not None  # auto_now filled in


def test_one_row_refused_saves_neither(consented_number, agent):
    text, entry = _text_and_entry(consented_number, agent, body="Keyed")
    text.idempotency_key = "k-1"
    first, _ = _text_and_entry(consented_number, agent, body="First")
    first.idempotency_key = "k-1"
    first.save()
    history_before = History.objects.count()
    with pytest.raises(IntegrityError), CaptureQueriesContext(connection) as queries, transaction.atomic():
        insert_together(entry, text)
    assert any("INSERT" in (q["sql"] or "") for q in queries.captured_queries)  # the failed statement is logged
    assert History.objects.count() == history_before
    assert not Message.objects.filter(body="Keyed").exists()


def test_only_new_rows_and_no_unsaved_relations(consented_number, agent):
    text, entry = _text_and_entry(consented_number, agent, body="Twice")
    insert_together(text, entry)
    with pytest.raises(ValueError, match="new rows only"):
        insert_together(text)
    orphan, _ = _text_and_entry(consented_number, agent, body="Orphan")
    orphan.phone_number = PhoneNumber(organization=consented_number.organization, number="+15125550199")
    with pytest.raises(ValueError):
        insert_together(orphan)


def test_an_expression_goes_through_save(consented_number, agent):
    text, entry = _text_and_entry(consented_number, agent, body="x")
    text.body = Concat(Value("Hello, "), Value("world"))
    insert_together(text, entry)
    text.refresh_from_db()
    assert text.body == "Hello, world" and History.objects.filter(pk=entry.pk).exists()


# --- prepared statements -----------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares; SQLite has a plain cursor")
def test_the_send_s_statements_are_prepared_once_per_connection(consented_number, agent):
    lookup = MessageCreateSerializer().fields["phone_number"]._lookup()
    for _ in range(3):
        lookup.get(organization=consented_number.organization_id, pk=consented_number.pk)
    insert_together(*_text_and_entry(consented_number, agent, body="Prepared"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [row[0] for row in cursor.fetchall()]
    assert sum('FROM "interactions_phonenumber"' in sql for sql in prepared) == 1  # once, run three times
    assert any(sql.startswith("WITH t0 AS (INSERT INTO") for sql in prepared)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares; SQLite has a plain cursor")
def test_the_query_log_shows_a_prepared_statement_with_its_values(consented_number):
    lookup = MessageCreateSerializer().fields["phone_number"]._lookup()
    lookup.get(organization=consented_number.organization_id, pk=consented_number.pk)  # prepared now
    with CaptureQueriesContext(connection) as queries:
        lookup.get(organization=consented_number.organization_id, pk=consented_number.pk)
    [logged] = queries.captured_queries
    assert f'"interactions_phonenumber"."id" = {consented_number.pk}' in logged["sql"]


def test_with_prepared_statements_off_a_plain_cursor(settings, consented_number):
    settings.DB_PREPARED_STATEMENTS = False
    with prepared_cursor() as cursor:
        assert type(cursor.cursor) is type(connection.cursor().cursor)
    lookup = MessageCreateSerializer().fields["phone_number"]._lookup()
    assert lookup.get(organization=consented_number.organization_id, pk=consented_number.pk) == consented_number


def test_update_by_pk_writes_what_update_writes(consented_number, agent):
    from messaging.models import IdempotencyKey

    text, entry = _text_and_entry(consented_number, agent, body="Keyed")
    insert_together(text, entry)
    now = timezone.now()
    rows = [
        IdempotencyKey.objects.create(organization=consented_number.organization, key=k, fingerprint="f", locked_at=now)
        for k in ("a", "b")
    ]
    body = {"id": text.pk, "body": "Keyed “quotes”", "nested": [1, None]}
    done = {"status": IdempotencyKey.Status.DONE, "response_code": 201, "response_body": body}
    assert update_by_pk(IdempotencyKey, rows[0].pk, message=text, **done) == 1
    IdempotencyKey.objects.filter(pk=rows[1].pk).update(message=text, **done)
    a, b = (IdempotencyKey.objects.filter(pk=row.pk).values().get() for row in rows)
    same = {"id": 0, "key": "", "created_at": None}
    assert {**a, **same} == {**b, **same}
    assert update_by_pk(IdempotencyKey, 2**40, status=IdempotencyKey.Status.DONE) == 0
    assert update_by_pk(IdempotencyKey, rows[0].pk, message=None) == 1
    assert IdempotencyKey.objects.get(pk=rows[0].pk).message_id is None


def test_update_by_pk_changes_the_row_only_when_it_still_matches(consented_number, agent):
    text, entry = _text_and_entry(consented_number, agent, body="Conditional")
    insert_together(text, entry)
    assert update_by_pk(Message, text.pk, where={"status": Message.Status.SENDING}, status=Message.Status.SENT) == 0
    assert update_by_pk(Message, text.pk, where={"status": Message.Status.QUEUED}, status=Message.Status.SENDING) == 1
    assert Message.objects.get(pk=text.pk).status == Message.Status.SENDING
    with pytest.raises(ValueError, match="NULL"):
        update_by_pk(Message, text.pk, where={"provider_sid": None}, status=Message.Status.SENT)


def test_save_fields_is_save_with_update_fields(consented_number, agent):
    pairs = [_text_and_entry(consented_number, agent, body=f"Claim {n}") for n in range(2)]
    for text, entry in pairs:
        insert_together(text, entry)
    now = timezone.now()
    (a, _), (b, _) = pairs
    sent = []
    receiver = lambda sender, instance, update_fields, **kw: sent.append((sender, update_fields))  # noqa: E731
    post_save.connect(receiver, weak=False)
    try:
        save_fields(a, [*a.move_to(Message.Status.SENDING, now=now, attempts=1), "lead_id"])
        b.save(update_fields=[*b.move_to(Message.Status.SENDING, now=now, attempts=1), "lead_id"])
    finally:
        post_save.disconnect(receiver)
    assert sent[0] == sent[1] and sent[0][0] is Message
    ra, rb = _row(a), _row(b)
    assert ra["updated_at"] >= now and rb["updated_at"] >= now  # auto_now, as save() fills it
    for column in ("id", "body", "created_at", "queued_at", "updated_at"):
        ra.pop(column), rb.pop(column)
    assert ra == rb and ra["status"] == Message.Status.SENDING and ra["sending_at"] == now
    with pytest.raises(ValueError, match="no field bodyy"):
        save_fields(a, ["bodyy"])
    gone = Message(pk=2**40, organization=consented_number.organization, body="x")
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        save_fields(gone, ["body"])
