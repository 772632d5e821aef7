from __future__ import annotations

from django.urls import path

from .views import webhooks

# Sections: unsubscribe links, Twilio webhooks, the card's text panel.
urlpatterns: list = [
    # Twilio webhooks (DESIGN "External interface"); signed, POST only.
    path("webhooks/twilio/status/", webhooks.twilio_status, name="twilio_status"),
    path("webhooks/twilio/inbound/", webhooks.twilio_inbound, name="twilio_inbound"),
]
