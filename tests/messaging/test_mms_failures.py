"""A picture the carrier refuses (Twilio 30019, 12300, 21620) says so in words, and the text goes again without it."""

from __future__ import annotations

import pytest

from messaging.models import Message
from messaging.services import media_create, message_queue, message_resend_without_media
from tests.pictures import jpeg

pytestmark = pytest.mark.django_db(transaction=True)

PERSON = "+15125550142"


@pytest.mark.parametrize(
    "code, words",
    [
        (30019, "larger than the person's carrier accepts"),
        (12300, "could not use the picture's type"),
        (21620, "could not fetch the picture"),
    ],
)
def test_a_refused_picture_says_why_and_the_text_goes_again_without_it(
    twilio_server, consented_number, open_all_day, agent, code, words
):
    picture = media_create(organization=consented_number.organization, file=jpeg())
    twilio_server.fail_next(code)

    message = message_queue(phone_number=consented_number, sent_by=agent, body="Unit B204 photo", media=[picture])
    message.refresh_from_db()

    assert message.status == Message.Status.FAILED and message.error_code == str(code)
    assert words in message.error_message and message.failure_reason == "media_rejected"

    again = message_resend_without_media(message=message, sent_by=agent)
    again.refresh_from_db()
    assert again.status == Message.Status.SENT and again.media_count == 0 and again.body == message.body
    assert twilio_server.sends()[-1].media_urls == []
    assert twilio_server.created(to=PERSON)[-1]["body"] == message.body
    with pytest.raises(Exception) as twice:  # a second click sends nothing more
        message_resend_without_media(message=message, sent_by=agent)
    assert getattr(twice.value, "code", "") == "not_resendable"


def test_the_card_offers_sending_without_the_picture_and_it_works(
    twilio_server, consented_number, open_all_day, agent, agent_client
):
    picture = media_create(organization=consented_number.organization, file=jpeg())
    twilio_server.fail_next(30019)
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Gate map attached", media=[picture])

    card = agent_client.get(f"/text/conversation/{consented_number.pk}/").content.decode()  # the card's thread
    assert "Send without the picture" in card and "larger than the person" in card

    response = agent_client.post(f"/text/messages/{message.pk}/resend-without-media/")
    assert response.status_code == 302
    assert (
        Message.objects.filter(body=Message.objects.get(pk=message.pk).body, media_count=0, status="sent").count() == 1
    )


def test_a_text_that_did_not_fail_over_its_picture_is_not_resent(consented_number, open_all_day, agent, outbox):
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Plain text")
    with pytest.raises(Exception) as refused:
        message_resend_without_media(message=message, sent_by=agent)
    assert getattr(refused.value, "code", "") == "not_resendable"


def test_the_panel_and_api_send_a_templates_picture(
    consented_number, open_all_day, agent, manager, manager_client, outbox, org
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from messaging.models import MessageTemplate

    response = manager_client.post(
        "/admin/messaging/messagetemplate/add/",
        {
            "name": "Gate map",
            "category": "general",
            "body": "Hi {{ first_name }}, here is the gate map.",
            "active": "on",
            "picture": SimpleUploadedFile("map.png", jpeg(300, 200)),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    template = MessageTemplate.objects.get(name="Gate map")
    assert template.media is not None and template.media.organization == org

    refused = manager_client.post(
        f"/admin/messaging/messagetemplate/{template.pk}/change/",
        {
            "name": "Gate map",
            "category": "general",
            "body": "Hi",
            "active": "on",
            "picture": SimpleUploadedFile("map.png", b"not a picture"),
        },
    )
    assert refused.status_code == 200 and "is not a picture" in refused.content.decode()

    message = message_queue(phone_number=consented_number, sent_by=agent, template=template)
    assert [row.media for row in message.attachments.all()] == [template.media]
    chosen = manager_client.get(f"/text/panel/{consented_number.pk}/template/?template={template.pk}").json()
    assert chosen["picture"]["id"] == template.media.pk


@pytest.mark.parametrize("code", [30019, 12300, 21620])
def test_a_delivery_receipt_refusing_the_picture_says_why_and_offers_the_text_without_it(
    twilio_server, consented_number, open_all_day, agent, client, code
):
    # The carrier's refusal comes later, as a signed status callback's ErrorCode, not as a refused API call.
    picture = media_create(organization=consented_number.organization, file=jpeg())
    message = message_queue(phone_number=consented_number, sent_by=agent, body="Unit B204 photo", media=[picture])
    message.refresh_from_db()
    assert message.status == Message.Status.SENT

    response = twilio_server.status_callback(message.provider_sid, "undelivered", error_code=code).post(client)

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.error_code == str(code) and message.failure_reason == "media_rejected"
    again = message_resend_without_media(message=message, sent_by=agent)
    again.refresh_from_db()
    assert again.status == Message.Status.SENT and again.media_count == 0 and again.body == message.body
