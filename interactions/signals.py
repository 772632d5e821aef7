"""What the CRM tells the apps above it: a few domain events, sent by the services that cause them.

Not ``post_save``: a row saved is not an event (an import may save a customer without a balance
change), and the receivers run inside the service's transaction, so a refusal they raise undoes
the whole change. The workflows app listens (``workflows/receivers.py``); interactions never
imports it (docs/ARCHITECTURE.md, layers).
"""

from __future__ import annotations

from django.dispatch import Signal

# A lead was created (``created=True``) or its status changed (converted, lost…). Args: ``lead``, ``created``.
lead_changed = Signal()

# A customer's balance changed; ``previous_balance`` is ``None`` for a new customer. Args: ``customer``,
# ``previous_balance``.
customer_balance_changed = Signal()

# A number must not be texted any more (STOP, the link, the carrier, an agent). Args: ``organization``, ``number``,
# ``event`` (the ledger entry), ``was_revoked`` (it already was: a repeated opt-out).
number_opted_out = Signal()
