"""When a text may go out: the organization's window in the recipient's local time."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from phonenumbers import timezone as number_timezones

from interactions.models import Facility, Organization


def recipient_time_zone(*, number: ParsedNumber, facility: Facility | None) -> zoneinfo.ZoneInfo:
    """The area code's time zone when it names exactly one, else the facility's."""
    zones = [z for z in number_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    if len(zones) == 1:
        return zoneinfo.ZoneInfo(zones[0])
    return zoneinfo.ZoneInfo(facility.time_zone if facility else "America/Chicago")


def window_of(organization: Organization) -> tuple[time, time]:
    """The organization's texting window (start, end), in the recipient's local time."""
    return organization.quiet_hours_start, organization.quiet_hours_end


def next_allowed_at(*, now: datetime, organization: Organization, tz: zoneinfo.ZoneInfo) -> datetime | None:
    """``None`` when ``now`` is inside the window, else the next moment the window opens."""
    start, end = window_of(organization)
    local = now.astimezone(tz)
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=tz)
