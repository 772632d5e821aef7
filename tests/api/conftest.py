from __future__ import annotations

from datetime import time

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from interactions.models import Membership
from tests.factories import FacilityFactory, MembershipFactory


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def api(agent) -> APIClient:
    """An agent of ``org`` calling with a token."""
    return token_client(agent)


@pytest.fixture
def manager_api(manager) -> APIClient:
    return token_client(manager)


@pytest.fixture
def other_facility(other_org):
    return FacilityFactory(organization=other_org, name="Rival Dallas")


@pytest.fixture
def other_api(other_org) -> APIClient:
    """A manager of another organization, with a token."""
    user = MembershipFactory(organization=other_org, role=Membership.Role.MANAGER, user__username="rival").user
    return token_client(user)


@pytest.fixture
def open_all_day(org, settings):
    """Texting hours that cover the whole day, so sends don't depend on when the suite runs (the
    statutes' windows lifted too; caps still apply)."""
    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = True
    org.quiet_hours_start, org.quiet_hours_end = time(0, 0), time(23, 59, 59, 999999)
    org.save()
    return org


@pytest.fixture
def sendable(consented_number, open_all_day):
    """A consented lead number that may be texted right now."""
    return consented_number
