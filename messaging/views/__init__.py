"""Messaging views: ``panel`` (the card's text panel), ``unsubscribe`` (/u/<token>), ``webhooks`` (Twilio),
``demo`` (a simulated reply, ``DEBUG`` only)."""
