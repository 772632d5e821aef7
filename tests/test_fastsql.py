"""The plain SQL of the send path (core/fastsql.py) reads what its querysets read and writes what
``save()`` writes, on both databases; signals others depend on still reach them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Concat
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.authentication import _TOKEN
from core.api import OrganizationScopedField
from core.fastsql import Joined, insert
from interactions.models import History, Membership, PhoneNumber
from messaging.models import IdempotencyKey, Message
from messaging.serializers import MessageCreateSerializer
from tests.factories import CustomerFactory, FacilityFactory, OrganizationFactory, PhoneNumberFactory

pytestmark = pytest.mark.django_db

JOINS = ("lead__facility", "customer__facility")


def same_row(a, b, where: str = "") -> None:
    """The same instance as far as anyone can read it: every concrete field, value and type."""
    assert type(a) is type(b), where
    assert a._state.db == b._state.db and a._state.adding is b._state.adding is False, where
    for field in a._meta.concrete_fields:
        got, expected = getattr(a, field.attname), getattr(b, field.attname)
        assert got == expected and type(got) is type(expected), f"{where}{field.name}: {got!r} != {expected!r}"


def same_tree(got, expected, paths) -> None:
    """Equal rows along every ``select_related`` path, each related row loaded (no query to read it)."""
    same_row(got, expected)
    for path in paths:
        a, b, where = got, expected, ""
        for step in path.split("__"):
            a, b, where = getattr(a, step), getattr(b, step), f"{where}{step}."
            assert (a is None) == (b is None), where
            if a is None:
                break
            same_row(a, b, where)


# --- reads -----------------------------------------------------------------------------------


def test_the_scoped_number_read_equals_the_orm(consented_number, facility):
    customer_phone = PhoneNumberFactory(lead=None, customer=CustomerFactory(facility=facility), number="+15125550188")
    read = MessageCreateSerializer().fields["phone_number"]._lookup()
    for phone in (consented_number, customer_phone):
        queryset = PhoneNumber.objects.filter(organization=phone.organization).select_related(*JOINS)
        expected = queryset.get(pk=phone.pk)
        with CaptureQueriesContext(connection) as queries:
            got = read.get(organization_id=phone.organization_id, pk=phone.pk)
            same_tree(got, expected, JOINS)
        assert len(queries) == 1  # the owner and its facility came with the number


def test_another_organization_s_number_does_not_exist(consented_number):
    other = FacilityFactory(organization=OrganizationFactory()).organization
    read = MessageCreateSerializer().fields["phone_number"]._lookup()
    with pytest.raises(PhoneNumber.DoesNotExist):
        read.get(organization_id=other.pk, pk=consented_number.pk)
    with pytest.raises(PhoneNumber.DoesNotExist):
        read.get(organization_id=consented_number.organization_id, pk=2**70)  # beyond any id: no row, no error
    with pytest.raises(ValueError):
        read.get(organization_id=consented_number.organization_id, pk="twelve")  # as filter(pk="twelve") raises
    with pytest.raises(ValueError):
        PhoneNumber.objects.filter(pk="twelve").first()


def test_the_token_read_equals_the_orm(agent):
    token = Token.objects.create(user=agent)
    paths = ("user__membership__organization",)
    expected = Token.objects.select_related(*paths).get(key=token.key)
    with CaptureQueriesContext(connection) as queries:
        got = _TOKEN.get(key=token.key)
        same_tree(got, expected, paths)
    assert len(queries) == 1
    with pytest.raises(Token.DoesNotExist):
        _TOKEN.get(key="0" * 40)


def test_a_user_without_a_membership_reads_as_the_orm_does():
    user = get_user_model().objects.create_user("loner", password="x")
    token = Token.objects.create(user=user)
    got = _TOKEN.get(key=token.key)
    expected = Token.objects.select_related("user__membership__organization").get(key=token.key)
    same_row(got.user, expected.user)
    with pytest.raises(Membership.DoesNotExist):
        got.user.membership  # noqa: B018
    with pytest.raises(Membership.DoesNotExist):
        expected.user.membership  # noqa: B018


def test_several_rows_are_refused_as_get_refuses_them(consented_number):
    read = Joined(PhoneNumber, "lead")
    with pytest.raises(PhoneNumber.MultipleObjectsReturned):
        PhoneNumberFactory(lead=consented_number.lead, number="+15125550177", is_primary=False)
        read.get(lead_id=consented_number.lead_id)


def test_the_field_answers_like_a_related_field(consented_number):
    field = OrganizationScopedField(PhoneNumber, select_related=JOINS)
    field.bind("phone_number", MessageCreateSerializer(context={"organization": consented_number.organization}))
    assert field.to_internal_value(consented_number.pk).pk == consented_number.pk
    assert field.to_internal_value(str(consented_number.pk)).organization == consented_number.organization


# --- insert ----------------------------------------------------------------------------------


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


def test_insert_writes_what_save_writes(consented_number, agent):
    together = _text_and_entry(consented_number, agent, body="Together")
    one_by_one = _text_and_entry(consented_number, agent, body="Together")
    with CaptureQueriesContext(connection) as queries:
        insert(*together)
    for obj in one_by_one:
        obj.save(force_insert=True)
    if connection.vendor == "postgresql":
        assert len(queries) == 1 and queries[0]["sql"].startswith("WITH")  # one statement, no BEGIN/COMMIT
    for got, expected in zip(together, one_by_one, strict=True):
        assert got.pk is not None and got.pk != expected.pk and type(got.pk) is type(expected.pk)
        assert got._state.adding is False and got._state.db == "default"
        a, b = _row(got), _row(expected)
        for column in ("id", "created_at", "updated_at", "queued_at", "occurred_at"):
            a.pop(column, None), b.pop(column, None)
        assert a == b
    assert together[0].created_at is not None and together[0].updated_at is not None  # auto_now filled in


def test_nobody_listens_to_the_rows_the_send_inserts():
    """What makes ``insert``'s one statement right for the send: no receiver of ``pre_save`` or
    ``post_save`` for these models in the project or its libraries (checked with every app loaded).
    Should one be connected, ``insert`` saves through ``save()`` (the next test)."""
    for model in (Message, History, IdempotencyKey):
        assert not pre_save.has_listeners(model) and not post_save.has_listeners(model), model


def test_insert_saves_through_save_when_someone_listens(consented_number, agent):
    rows = _text_and_entry(consented_number, agent, body="Heard")
    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((sender, instance.pk is not None, created))

    post_save.connect(receiver, sender=History, weak=False)
    try:
        insert(*rows)
    finally:
        post_save.disconnect(receiver, sender=History)
    assert heard == [(History, True, True)]
    assert all(obj.pk is not None and obj._state.adding is False for obj in rows)


def test_one_row_refused_saves_neither(consented_number, agent):
    text, entry = _text_and_entry(consented_number, agent, body="Keyed")
    text.idempotency_key = "k-1"
    first, _ = _text_and_entry(consented_number, agent, body="First")
    first.idempotency_key = "k-1"
    first.save()
    history_before = History.objects.count()
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(entry, text)
    assert History.objects.count() == history_before
    assert not Message.objects.filter(body="Keyed").exists()


def test_only_new_rows_and_no_unsaved_relations(consented_number, agent):
    text, entry = _text_and_entry(consented_number, agent, body="Twice")
    insert(text, entry)
    with pytest.raises(ValueError, match="new rows only"):
        insert(text)
    orphan, _ = _text_and_entry(consented_number, agent, body="Orphan")
    orphan.phone_number = PhoneNumber(organization=consented_number.organization, number="+15125550199")
    with pytest.raises(ValueError, match="unsaved related object"):
        insert(orphan)


def test_an_expression_goes_through_save(consented_number, agent):
    text, entry = _text_and_entry(consented_number, agent, body="x")
    text.body = Concat(Value("Hello, "), Value("world"))
    insert(text, entry)
    text.refresh_from_db()
    assert text.body == "Hello, world" and History.objects.filter(pk=entry.pk).exists()


# --- planning ----------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares; SQLite plans every time")
def test_the_send_s_statements_are_prepared_once_per_connection(settings, consented_number):
    """Django's ``server_side_binding`` and psycopg's ``prepare_threshold``: a statement run often
    enough is prepared, once, and runs by name afterwards."""
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["server_side_binding"] is True and options["prepare_threshold"] == settings.DB_PREPARE_THRESHOLD
    read = MessageCreateSerializer().fields["phone_number"]._lookup()
    for _ in range(settings.DB_PREPARE_THRESHOLD + 2):
        read.get(organization_id=consented_number.organization_id, pk=consented_number.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = [row[0] for row in cursor.fetchall()]
    assert sum('FROM "interactions_phonenumber" t0' in sql for sql in prepared) == 1


# --- further statements ------------------------------------------------------------------------


def test_further_statements_go_in_the_same_statement_or_nothing_is_written(consented_number, agent):
    """``insert``'s ``then``: the caller's writes folded into the one statement on PostgreSQL, reading
    the new key; elsewhere, or when ``then`` says ``None``, ``False`` and nothing written."""
    text, entry = _text_and_entry(consented_number, agent, body="Not folded")
    assert insert(text, entry, then=lambda: None) is False
    assert text.pk is None and not Message.objects.filter(body="Not folded").exists()

    text, entry = _text_and_entry(consented_number, agent, body="Folded")
    note = (
        "UPDATE interactions_phonenumber SET label = %s || (SELECT id FROM t0) WHERE id = %s",
        ["text ", consented_number.pk],
    )
    with CaptureQueriesContext(connection) as queries:
        folded = insert(text, entry, then=lambda: [note])
    assert folded is (connection.vendor == "postgresql")
    consented_number.refresh_from_db()
    if folded:
        assert len(queries) == 1 and "then0 AS (UPDATE" in queries[0]["sql"]
        assert consented_number.label == f"text {text.pk}" and History.objects.filter(pk=entry.pk).exists()
    else:
        assert text.pk is None and not Message.objects.filter(body="Folded").exists()
