"""Messaging views: ``panel`` (the card's text panel), ``unsubscribe`` (/u/<token>), ``webhooks`` (Twilio)."""
