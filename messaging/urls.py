from __future__ import annotations

from django.urls import re_path

from .views import unsubscribe

# Sections: unsubscribe links, Twilio webhooks, the card's text panel.
urlpatterns: list = [
    # /u/<token> as printed in texts; a trailing slash some phones add is accepted too.
    re_path(r"^u/(?P<token>[A-Za-z0-9]+)/?$", unsubscribe.unsubscribe, name="unsubscribe"),
]
