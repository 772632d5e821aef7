"""Prepared reads (core/prepared.py) give what their querysets give, on both databases."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from config.authentication import _TOKEN
from core.api import OrganizationScopedField
from core.prepared import PreparedQuery
from interactions.models import PhoneNumber
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
