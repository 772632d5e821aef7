from __future__ import annotations

# Sections: unsubscribe links, Twilio webhooks, the card's text panel.
urlpatterns: list = []
