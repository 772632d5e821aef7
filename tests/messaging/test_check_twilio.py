"""``manage.py check_twilio`` reads each sender's webhook from Twilio (the real SDK against the
Twilio-compatible server) and names what would lose replies and STOPs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import FacilityFactory

pytestmark = pytest.mark.django_db

INBOUND = "https://textdesk.test/webhooks/twilio/inbound/"


def check(**options) -> str:
    out = StringIO()
    call_command("check_twilio", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def senders(org, twilio_server, settings):
    settings.PUBLIC_BASE_URL = "https://textdesk.test"
    austin = FacilityFactory(organization=org, name="Lakeside Austin", sms_sender_number="+15125550100")
    dallas = FacilityFactory(organization=org, name="Lakeside Dallas", sms_sender_number="+12145550100")
    return austin, dallas


def test_every_sender_set_up_passes(senders, twilio_server):
    twilio_server.configure_number("+15125550100", sms_url=INBOUND)
    twilio_server.configure_number("+12145550100", sms_url=INBOUND.rstrip("/"))  # the form without the slash

    output = check()

    assert "ok       +15125550100 (Lakeside Austin)" in output
    assert "ok       +12145550100 (Lakeside Dallas)" in output
    assert "All 2 senders reach Textdesk." in output
    # One list of the account's numbers for every sender, not a request each (a thousand facilities).
    assert [r.path.rsplit("/", 1)[-1] for r in twilio_server.requests] == ["IncomingPhoneNumbers.json"]


@pytest.mark.parametrize(
    ("configured", "words"),
    [
        ({"sms_url": ""}, "has no incoming-message webhook: replies and STOP never reach Textdesk"),
        ({"sms_url": "https://demo.twilio.com/welcome/sms/reply"}, "sends incoming texts to https://demo.twilio.com"),
        ({"sms_url": INBOUND, "sms_method": "GET"}, "calls the webhook with HTTP GET"),
        (None, "is not a number of this Twilio account"),
    ],
)
def test_a_number_that_would_lose_replies_is_named_with_its_fix(senders, twilio_server, configured, words):
    twilio_server.configure_number("+12145550100", sms_url=INBOUND)
    if configured is not None:
        twilio_server.configure_number("+15125550100", **configured)

    out = StringIO()
    with pytest.raises(CommandError, match="1 of 2 senders"):
        call_command("check_twilio", stdout=out)
    assert f"PROBLEM  +15125550100 (Lakeside Austin) {words}" in out.getvalue()
    if configured is not None:
        assert "Phone Numbers → +15125550100 → Configure → A message comes in: " + INBOUND in out.getvalue()


def test_a_messaging_service_posts_for_its_pool_and_is_checked_itself(org, senders, twilio_server):
    org.twilio_messaging_service_sid = "MG" + "1" * 32
    org.save()
    twilio_server.configure_number("+15125550100")  # no webhook of its own: the service's applies
    twilio_server.configure_number("+12145550100", sms_url=INBOUND)
    twilio_server.configure_messaging_service(
        org.twilio_messaging_service_sid, inbound_request_url="https://old.example.com/sms", numbers=("+15125550100",)
    )
    out = StringIO()

    with pytest.raises(CommandError, match="1 of 3 senders"):
        call_command("check_twilio", stdout=out)

    assert (
        f"PROBLEM  messaging service {org.twilio_messaging_service_sid} (Lakeside Storage) sends incoming texts to https://old.example.com/sms"
        in (out.getvalue())
    )
    assert "ok       +15125550100 (Lakeside Austin)" in out.getvalue()  # in the pool: the service posts for it

    twilio_server.configure_messaging_service(
        org.twilio_messaging_service_sid, inbound_request_url=INBOUND, numbers=("+15125550100",)
    )
    assert "All 3 senders reach Textdesk." in check(organization=org.slug)


def test_without_credentials_it_says_so(senders, settings):
    settings.TWILIO_AUTH_TOKEN = ""

    with pytest.raises(CommandError, match="TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set"):
        check()


def test_the_admin_page_shows_a_manager_their_senders_and_refuses_agents(
    client, senders, twilio_server, manager, agent, other_org
):
    twilio_server.configure_number("+15125550100", sms_url=INBOUND)
    FacilityFactory(organization=other_org, name="Rival Tampa", sms_sender_number="+18135550100")
    client.force_login(manager)

    page = client.get("/admin/messaging/message/twilio-setup/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "1 of 2 senders with a problem" in text
    assert "+12145550100 (Lakeside Dallas)" in text and "is not a number of this Twilio account" in text
    assert "Rival Tampa" not in text and "+18135550100" not in text  # another organization's sender
    client.force_login(agent)
    assert client.get("/admin/messaging/message/twilio-setup/").status_code == 403


def test_the_admin_page_without_twilio_says_so(client, manager, settings):
    settings.SMS_BACKEND = "console"
    client.force_login(manager)

    page = client.get("/admin/messaging/message/twilio-setup/")

    assert page.status_code == 200
    assert "SMS_BACKEND is console" in page.content.decode()
