"""What messaging does about the CRM's domain events (``interactions/signals.py``)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver

from interactions.models import ConsentEvent, PhoneNumber
from interactions.signals import number_opted_out, phone_number_saved

from .services import confirmation_wanted, conversation_flags_after_opt_out, opt_out_confirmation_queue

logger = logging.getLogger(__name__)


@receiver(phone_number_saved)
def look_up_line_type(sender: Any, *, phone_number: PhoneNumber, **kwargs: Any) -> None:
    """A number was added (card, API, PMS import, admin): look up its line type after commit.

    In a task, so adding a number stays fast; eager in ``make run`` (the demo lookup answers at once).
    """
    if not settings.LINE_TYPE_LOOKUP:
        return
    from .tasks import lookup_line_type

    phone_id = phone_number.pk

    def enqueue() -> None:
        try:
            lookup_line_type.delay(phone_id)
        except Exception:  # the number is saved: the periodic lookup finds it
            logger.exception("could not queue the line-type lookup of phone number %s", phone_id)

    transaction.on_commit(enqueue)


@receiver(number_opted_out, dispatch_uid="messaging.number_opted_out")
def on_number_opted_out(sender: Any, *, event: ConsentEvent, was_revoked: bool = False, **kwargs: Any) -> None:
    """A person opted out (keyword, plain words, the link, an agent): the one confirmation text, and
    their waiting stop requests leave the inbox's "Stop requests"."""
    conversation_flags_after_opt_out(organization=event.organization, number=event.number)
    if confirmation_wanted(event=event, was_revoked=was_revoked):
        opt_out_confirmation_queue(event=event, now=event.created_at)
