"""What messaging tells the apps above it, once the change is committed.

Sent by ``Message.move_to`` (the one way a text changes status) and by the services that create
texts (``message_queue``, incoming texts); the integrations app turns them into webhooks. Sent on
commit, so a rolled-back change is never announced; messaging never imports its listeners.
"""

from __future__ import annotations

from django.dispatch import Signal

# A text was created or changed status. Args: ``message`` (the row as saved), ``status``.
message_status_changed = Signal()

# Many texts moved at once (``MessageQuerySet.move_to``). Args: ``message_ids``, ``status``.
messages_status_changed = Signal()
