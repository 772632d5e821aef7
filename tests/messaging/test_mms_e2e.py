"""MMS end to end through the real twilio SDK and the Twilio-compatible test server: the provider
fetches each signed picture link from the live Django server, as Twilio does; received pictures are
fetched with the account's credentials, stored, shown, and deleted at the provider."""

from __future__ import annotations

import hashlib
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from interactions.models import PhoneNumber
from messaging.models import Media, Message
from messaging.services import media_create, message_queue
from tests.pictures import GPS_IFD, jpeg, opened, png

pytestmark = pytest.mark.django_db(transaction=True)

PERSON = "+15125550142"


@pytest.fixture
def public_live_server(live_server, settings, twilio_server):
    """The live server as the public URL: picture links and signatures use it, and the provider fetches from it."""
    settings.PUBLIC_BASE_URL = live_server.url
    twilio_server.public_base_url = live_server.url
    twilio_server.fetch_media_from = live_server.url
    return live_server


def _send_mms(phone: PhoneNumber, agent, body: str, pictures: list[Media]) -> Message:
    phone = PhoneNumber.objects.select_related("organization").get(pk=phone.pk)
    message = message_queue(phone_number=phone, sent_by=agent, body=body, media=pictures)
    message.refresh_from_db()
    return message


def test_twilio_gets_one_signed_link_per_picture_and_fetches_the_bytes(
    public_live_server, twilio_server, consented_number, open_all_day, agent
):
    org = consented_number.organization
    pictures = [media_create(organization=org, file=jpeg(gps=True)), media_create(organization=org, file=png())]

    message = _send_mms(consented_number, agent, "Your unit B204, and the gate map.", pictures)

    assert message.status == Message.Status.SENT
    (urls,) = twilio_server.media_sends()
    assert len(urls) == 2 and all(url.startswith(public_live_server.url + "/m/") for url in urls)
    fetched = twilio_server.fetched_media
    assert [f.status for f in fetched] == [200, 200]
    for got, picture in zip(fetched, pictures, strict=True):
        assert hashlib.sha256(got.body).hexdigest() == picture.sha256
        assert got.content_type == picture.content_type
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert got.headers["Cache-Control"].startswith("private")
    assert not opened(fetched[0].body).getexif().get_ifd(GPS_IFD)  # the location never left
    assert twilio_server.created(to=PERSON)[0]["num_media"] == "2"


def test_a_picture_link_without_a_valid_signature_is_a_404(public_live_server, org):
    from messaging.selectors import media_link

    link = media_link(media_create(organization=org, file=jpeg()))
    assert urlopen(link, timeout=5).status == 200
    for forged in (link[:-2] + ("AA" if not link.endswith("AA") else "BB"), public_live_server.url + "/m/1"):
        with pytest.raises(HTTPError) as answer:
            urlopen(forged, timeout=5)
        assert answer.value.code == 404


def test_a_picture_link_expires(public_live_server, org, settings):
    from messaging.selectors import media_link

    link = media_link(media_create(organization=org, file=jpeg()))
    settings.MEDIA_LINK_MAX_AGE_SECONDS = -1
    with pytest.raises(HTTPError) as answer:
        urlopen(link, timeout=5)
    assert answer.value.code == 404


def test_a_received_mms_is_fetched_stored_shown_and_deleted_at_the_provider(
    public_live_server, twilio_server, consented_number, agent_client
):
    sender_number = str(consented_number.lead.facility.sms_sender_number)
    photo = jpeg(gps=True, color="maroon")
    inbound = twilio_server.inbound(
        from_=PERSON, to=sender_number, body="The door is dented", media=((photo, "image/jpeg"),)
    )

    status, _ = twilio_server.post(inbound, base_url=public_live_server.url)

    assert status == 200
    message = Message.objects.get(provider_sid=inbound.params["MessageSid"])
    assert message.media_count == 1
    (media,) = [row.media for row in message.attachments.all()]
    assert message.attachments.get().organization_id == message.organization_id
    assert media.source == Media.Source.INBOUND and media.content_type == "image/jpeg"
    assert not opened(media.file.read()).getexif().get_ifd(GPS_IFD)
    # Fetched with the account's credentials, then deleted at the provider, and the deletion recorded.
    fetches = [r for r in twilio_server.requests if r.method == "GET" and "/Media/" in r.path]
    assert fetches and fetches[0].headers.get("Authorization", "").startswith("Basic ")
    assert twilio_server.media_deleted == [(inbound.params["MessageSid"], media.provider_sid)]
    assert media.provider_deleted_at is not None and not media.provider_delete_error
    # The thread shows it: its thumbnail links to the full-size picture.
    thread = agent_client.get(f"/text/conversation/{consented_number.pk}/").content.decode()
    assert f"/media/{media.pk}/" in thread
    full = agent_client.get(f"/media/{media.pk}/")
    assert full.status_code == 200 and full["Content-Type"] == "image/jpeg"


def test_a_media_url_off_the_twilio_api_host_is_never_fetched(
    public_live_server, twilio_server, consented_number, settings
):
    sender_number = str(consented_number.lead.facility.sms_sender_number)
    inbound = twilio_server.inbound(from_=PERSON, to=sender_number, body="look", media=((jpeg(), "image/jpeg"),))
    params = dict(inbound.params)
    # A signed payload naming another host (the metadata address of a cloud machine): refused, not fetched.
    params["MediaUrl0"] = params["MediaUrl0"].replace(twilio_server.url, "http://169.254.169.254")
    forged = twilio_server._sign(inbound.path, params)

    status, _ = twilio_server.post(forged, base_url=public_live_server.url)

    assert status == 200
    message = Message.objects.get(provider_sid=params["MessageSid"])
    assert not message.attachments.exists()
    assert "Picture 1 was not fetched" in message.error_message and "169.254.169.254" in message.error_message
    assert not [r for r in twilio_server.requests if "/Media/" in r.path]


def test_an_attachment_that_is_not_a_picture_is_not_kept_and_is_deleted_at_the_provider(
    public_live_server, twilio_server, consented_number
):
    sender_number = str(consented_number.lead.facility.sms_sender_number)
    inbound = twilio_server.inbound(
        from_=PERSON, to=sender_number, body="my card", media=((b"BEGIN:VCARD\nEND:VCARD\n", "text/vcard"),)
    )
    assert twilio_server.post(inbound, base_url=public_live_server.url)[0] == 200
    message = Message.objects.get(provider_sid=inbound.params["MessageSid"])
    assert not message.attachments.exists()
    assert "Attachment 1 (text/vcard) was not kept" in message.error_message
    assert len(twilio_server.media_deleted) == 1 and not twilio_server.media


def test_a_picture_twilio_no_longer_has_is_said_on_the_text(public_live_server, twilio_server, consented_number):
    sender_number = str(consented_number.lead.facility.sms_sender_number)
    inbound = twilio_server.inbound(from_=PERSON, to=sender_number, body="pic", media=((jpeg(), "image/jpeg"),))
    twilio_server.media.clear()  # Twilio no longer has it (answers 404, not worth retrying)
    assert twilio_server.post(inbound, base_url=public_live_server.url)[0] == 200
    message = Message.objects.get(provider_sid=inbound.params["MessageSid"])
    assert not message.attachments.exists() and "Picture 1 was not fetched" in message.error_message
