"""How dates and times are written to people, in one place each (refusals, confirmations, notes)."""

from __future__ import annotations

from datetime import datetime, time, tzinfo

from django.utils import timezone


def display_date(value: datetime, *, tz: tzinfo | None = None) -> str:
    """A date as refusals write it to people: ``Nov 27, 2026``.

    ``tz`` is the zone the reader's dates are in (the person's facility): the card and the panel
    must name the same day for the same moment, whatever zone the request runs in.
    """
    return timezone.localtime(value, tz).strftime("%b %-d, %Y")


def display_clock(value: time | datetime) -> str:
    """A wall-clock time: ``9:00 PM``."""
    return value.strftime("%-I:%M %p")


def display_moment(value: datetime) -> str:
    """A moment with its zone named, as texting-hours refusals and schedules write it: ``Fri Nov 27, 8:00 AM CST``.

    ``value`` is already in the zone to show (the recipient's, or the facility's).
    """
    return f"{value:%a %b %-d, %-I:%M %p} {value.tzname()}"
