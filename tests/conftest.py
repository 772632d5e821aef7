from __future__ import annotations

import pytest
from django.test import Client

from interactions.models import Membership
from interactions.services import consent_grant
from tests.factories import FacilityFactory, MembershipFactory, OrganizationFactory, PhoneNumberFactory


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Lakeside Storage", slug="lakeside")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Rival Storage", slug="rival")


@pytest.fixture
def facility(org):
    return FacilityFactory(organization=org, name="Lakeside Austin", time_zone="America/Chicago")


@pytest.fixture
def agent(org):
    return MembershipFactory(organization=org, role=Membership.Role.AGENT, user__username="agent1").user


@pytest.fixture
def manager(org):
    return MembershipFactory(organization=org, role=Membership.Role.MANAGER, user__username="manager1").user


@pytest.fixture
def agent_client(agent) -> Client:
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


@pytest.fixture
def consented_number(facility):
    """A lead's primary mobile number with text permission on record."""
    phone = PhoneNumberFactory(lead__facility=facility, number="+15125550142")
    consent_grant(organization=facility.organization, number=phone.number, source="web_form", evidence="quote form")
    return phone
