"""Messaging views: ``panel`` (the card's text panel), ``unsubscribe`` (/u/<token>), ``webhooks`` (Twilio),
``template_preview`` (the admin template form's live preview), ``demo`` (a simulated reply, ``DEBUG`` only)."""
