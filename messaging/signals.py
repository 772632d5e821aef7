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

# A month's partition of texts is about to be dropped whole (retention, ``messaging.partitions``):
# no row trigger fires for its rows. Sent inside the dropping transaction, before the drop, so a
# listener can still read the partition. Args: ``table`` (the partition's name), ``using``.
texts_partition_dropping = Signal()
