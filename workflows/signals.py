"""What workflows tells the apps above it (the integrations app's webhooks), on commit."""

from __future__ import annotations

from django.dispatch import Signal

# A task was created or closed (done or skipped). Args: ``task``, ``created``.
task_changed = Signal()
