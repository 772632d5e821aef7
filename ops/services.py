"""The beat heartbeat: written by a periodic task, read by readiness, metrics and the beat container."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from .models import Heartbeat

BEAT = "beat"


def heartbeat_record(*, name: str = BEAT, now: datetime | None = None) -> datetime:
    """Record that ``name`` ran now (one row per name, overwritten)."""
    now = now or timezone.now()
    Heartbeat.objects.update_or_create(name=name, defaults={"at": now})
    return now


def heartbeat_age(*, name: str = BEAT, now: datetime | None = None) -> float | None:
    """Seconds since ``name`` last ran, or ``None`` if it never did."""
    at = Heartbeat.objects.filter(name=name).values_list("at", flat=True).first()
    if at is None:
        return None
    return max(0.0, ((now or timezone.now()) - at).total_seconds())


def heartbeat_state(age: float | None, *, max_age: float | None = None) -> str:
    """``ok``, ``late`` (older than ``max_age``, default ``BEAT_HEARTBEAT_MAX_AGE``) or ``missing`` (never ran)."""
    if age is None:
        return "missing"
    return "ok" if age <= (max_age or settings.BEAT_HEARTBEAT_MAX_AGE) else "late"
