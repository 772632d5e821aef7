"""What messaging does when the CRM tells it a number opted out: the one confirmation text."""

from __future__ import annotations

from django.dispatch import receiver

from interactions.signals import number_opted_out

from .services.confirmation import confirmation_wanted, opt_out_confirmation_queue


@receiver(number_opted_out, dispatch_uid="messaging.number_opted_out")
def on_number_opted_out(sender, *, event, was_revoked: bool = False, **kwargs) -> None:
    if confirmation_wanted(event=event, was_revoked=was_revoked):
        opt_out_confirmation_queue(event=event, now=event.created_at)
