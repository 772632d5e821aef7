"""What the CRM tells the apps above it: a few domain events, sent by the services that cause them.

Not ``post_save``: a row saved is not an event (an import may save a customer without a balance
change), and the receivers run inside the service's transaction, so a refusal they raise undoes
the whole change. The workflows app listens (``workflows/receivers.py``); interactions never
imports it (docs/ARCHITECTURE.md, layers).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

# A lead was created (``created=True``) or its status changed (converted, lost…). Args: ``lead``, ``created``.
lead_changed = Signal()

# A customer's balance changed; ``previous_balance`` is ``None`` for a new customer. Args: ``customer``,
# ``previous_balance``.
customer_balance_changed = Signal()

# A number must not be texted any more (STOP, the link, the carrier, an agent). Args: ``organization``, ``number``,
# ``event`` (the ledger entry), ``was_revoked`` (it already was: a repeated opt-out).
number_opted_out = Signal()

# A number was saved on a record (added, or corrected to another number). Args: ``phone_number``.
# Messaging looks up its line type (after commit, in a task: adding stays fast).
phone_number_saved = Signal()


# A number's consent changed (granted or revoked), announced once the transaction commits. Args:
# ``organization``, ``number``, ``event`` (the ConsentEvent). The integrations app turns it into
# consent.granted / consent.revoked webhooks.
consent_changed = Signal()


class _Announcement:
    """A signal to send on commit; ``announces`` says which, for whoever inspects the pending callbacks (tests)."""

    def __init__(self, signal: Signal, sender: Any, kwargs: dict[str, Any]) -> None:
        self.announces, self.sender, self.kwargs = signal, sender, kwargs

    def __call__(self) -> None:
        self.announces.send(sender=self.sender, **self.kwargs)


def announce_on_commit(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (at once outside one): listeners that
    tell the outside world must never announce a change that was rolled back."""
    transaction.on_commit(_Announcement(signal, sender, kwargs), robust=True)
