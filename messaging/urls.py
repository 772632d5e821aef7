from __future__ import annotations

from django.urls import path

from .views import outstanding

# Sections: unsubscribe links, Twilio webhooks, the card's text panel.
urlpatterns: list = [
    path("outstanding/inbound/", outstanding.outstanding_inbound, name="outstanding_inbound"),
]
