from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import Client

from interactions.models import Membership
from interactions.services import consent_grant
from tests.factories import FacilityFactory, MembershipFactory, OrganizationFactory, PhoneNumberFactory

# --- the two configurations (config/settings_test.py) ---------------------------------------


def pytest_report_header(config):
    return f"textdesk test configuration: {settings.TEST_CONFIG} ({settings.DATABASES['default']['ENGINE']})"


def pytest_collection_modifyitems(config, items):
    """In the embedded configuration, skip the few tests that need PostgreSQL, each with its reason."""
    if not settings.EMBEDDED:
        return
    for item in items:
        marker = item.get_closest_marker("postgres")
        if marker is None:
            continue
        reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.postgres needs a reason")
        item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL: {reason}"))


# --- any server error fails the test that caused it -----------------------------------------


class _ServerErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def server_errors(request):
    """Fail a test during which Django logged a server error (a 5xx or an unhandled exception).

    ``django.request`` logs every 5xx of the test client and of the live server's thread, and
    ``django.server`` the live server's own failures; an error page a test never looked at would
    otherwise pass unseen. A test that provokes one on purpose says so with
    ``@pytest.mark.allow_server_errors``.
    """
    handler = _ServerErrors()
    loggers = [logging.getLogger(name) for name in ("django.request", "django.server")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)
    if handler.records and request.node.get_closest_marker("allow_server_errors") is None:
        lines = [f"{r.name}: {r.getMessage()}" for r in handler.records]
        pytest.fail("the server logged errors during this test:\n  " + "\n  ".join(lines), pytrace=False)


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


@pytest.fixture
def outbox():
    """The locmem SMS backend's outbox, emptied for this test (like Django's ``mail.outbox``)."""
    from messaging.backends import locmem

    locmem.outbox.clear()
    yield locmem.outbox
    locmem.outbox.clear()


def _reset_sms_throttle(redis_url: str) -> None:
    """Forget earlier tests' sends, so the per-sender rate limit starts fresh."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter("textdesk:sms-throttle:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def twilio_server(settings):
    """A Twilio-compatible HTTP server on 127.0.0.1 (tests/twilio_server.py); sends go to it.

    Sets ``SMS_BACKEND=twilio`` and ``TWILIO_API_BASE_URL`` for the test, so the real twilio SDK
    talks to it. Its ``url`` can be given to other processes (a Celery worker) too.
    """
    from tests.twilio_server import TwilioServer

    server = TwilioServer(
        account_sid=settings.TWILIO_ACCOUNT_SID,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        public_base_url=settings.PUBLIC_BASE_URL,
    ).start()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = server.url
    _reset_sms_throttle(settings.REDIS_URL)
    yield server
    server.stop()


@pytest.fixture
def open_all_day(org, settings):
    """Quiet hours that never close for ``org``, so wall-clock sends do not depend on the time of day.

    The statutes' windows are lifted too (``TEXTING_LAW_WINDOWS_OFF_FOR_TESTS``); caps still apply.
    """
    import datetime as dt

    settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS = True
    org.quiet_hours_start = dt.time(0, 0)
    org.quiet_hours_end = dt.time(23, 59, 59, 999999)
    org.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    return org


# --- cards and the text panel (ui) --------------------------------------------------------


def close_texting_window(organization, tz: str = "America/Chicago") -> None:
    """Set the organization's texting window to an hour that excludes the current time in ``tz``.

    Tests of the quiet-hours refusal use this instead of faking the clock, so a live server
    thread sees the same "now" as the test.
    """
    import datetime as dt
    import zoneinfo

    from django.utils import timezone

    local = timezone.now().astimezone(zoneinfo.ZoneInfo(tz))
    # Inside every law's window (Texas opens at noon on Sundays), so the next allowed time exists.
    start, end = (dt.time(13), dt.time(14)) if local.hour < 12 else (dt.time(10), dt.time(11))
    organization.quiet_hours_start, organization.quiet_hours_end = start, end
    organization.save(update_fields=["quiet_hours_start", "quiet_hours_end"])


@pytest.fixture
def other_org_number(other_org):
    """A consented number on a lead of another organization (for tenancy checks)."""
    phone = PhoneNumberFactory(lead__facility__organization=other_org, number="+15125550999")
    consent_grant(organization=other_org, number=phone.number, source="web_form", evidence="quote form")
    return phone
