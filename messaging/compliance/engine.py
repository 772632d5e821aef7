"""The one answer to "may this person be texted at this moment?" (docs/ARCHITECTURE.md rule 4).

Every jurisdiction that can claim the recipient applies at once, each in the recipient's local
time, together with the organization's own hours and cap:

- federal law, always (abroad too, in the recipient's own zone: a courtesy, not a statute);
- the state of the record's address (``state``, else the ZIP code's first three digits);
- the state of the number's area code (FL, OK and MD presume a resident from it);
- the organization's window and daily cap, which can only tighten what the law allows.

When the address and the area code name different states both apply, which is the stricter
rule whatever the two are. The send check (``messaging.services.compose``), the worker's claim
(``messaging.services.sending``), workflows and the home page's "Texting now" all ask here.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from phonenumber_field.phonenumber import PhoneNumber as ParsedNumber
from phonenumbers import timezone as number_timezones

from core.formats import display_clock, display_moment
from core.phonenumbers import present
from interactions.models import Customer, Facility, Lead, Organization

from ..models import Message, counted_moment
from .jurisdictions import FEDERAL, JURISDICTIONS, STATE_BY_AREA_CODE, STATE_BY_ZIP3, Jurisdiction

DAY = timedelta(hours=24)


def recipient_time_zone(*, number: ParsedNumber, facility: Facility | None) -> zoneinfo.ZoneInfo:
    """The area code's time zone when it names exactly one, else the facility's."""
    zones = [z for z in number_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    if len(zones) == 1:
        return zoneinfo.ZoneInfo(zones[0])
    return zoneinfo.ZoneInfo(facility.time_zone if facility else "America/Chicago")


def state_of_address(*, state: str = "", postal_code: str = "") -> str:
    """The two-letter state of an address: the ``state`` field when set, else from the ZIP code."""
    state = (state or "").strip().upper()
    if state:
        return state
    digits = "".join(ch for ch in (postal_code or "") if ch.isdigit())
    return STATE_BY_ZIP3.get(digits[:3], "") if len(digits) >= 5 else ""


def state_of_number(number: ParsedNumber) -> str:
    """The state a US number's area code is presumed to be in, among the states with their own rules."""
    if not present(number) or number.country_code != 1:
        return ""
    return STATE_BY_AREA_CODE.get(str(number.national_number)[:3], "")


@dataclass(frozen=True)
class Rule:
    """One jurisdiction's rule, held in one time zone, and why it applies to this person."""

    jurisdiction: Jurisdiction
    tz: zoneinfo.ZoneInfo
    because: str  # "by the area code", "by the address", "" for federal law and the organization

    @property
    def is_statute(self) -> bool:
        return self.jurisdiction.code != "ORG"

    def opens_at(self, moment: datetime) -> datetime | None:
        """``None`` when open at ``moment``, else the next moment this rule's window opens."""
        local = moment.astimezone(self.tz)
        start, end = self.jurisdiction.window_on(local.weekday())
        if start <= local.time() < end:
            return None
        day = local.date()
        if local.time() >= start:
            day += timedelta(days=1)
        start = self.jurisdiction.window_on(day.weekday())[0]
        return datetime.combine(day, start, tzinfo=self.tz)

    def window_text(self, moment: datetime) -> str:
        start, end = self.jurisdiction.window_on(moment.astimezone(self.tz).weekday())
        return f"{display_clock(start)}–{display_clock(end)}"


def organization_rules(organization: Organization) -> Jurisdiction:
    """The organization's own hours and cap, as a jurisdiction that applies to everyone it texts."""
    window = (organization.quiet_hours_start, organization.quiet_hours_end)
    return Jurisdiction(
        code="ORG",
        name=f"{organization.name}'s own texting hours",
        windows=(window,) * 7,
        time_zones=(),
        cap_per_24h=organization.daily_text_cap,
        citation="Set by the organization (it can only tighten the law's rules).",
        source_url="",
    )


@dataclass(frozen=True)
class Recipient:
    """Every rule that holds for one person at one number."""

    tz: zoneinfo.ZoneInfo  # the zone the person is shown in
    rules: tuple[Rule, ...]
    states: tuple[str, ...] = field(default=())

    @property
    def cap(self) -> tuple[int, Rule] | None:
        """The smallest cap of any rule, and the rule it comes from."""
        capped = [(r.jurisdiction.cap_per_24h, r) for r in self.rules if r.jurisdiction.cap_per_24h]
        return min(capped, key=lambda pair: (pair[0], not pair[1].is_statute)) if capped else None


def recipient_rules(
    *, organization: Organization, number: ParsedNumber, facility: Facility | None, owner: Lead | Customer | None
) -> Recipient:
    """The rules for texting ``number`` held by ``owner`` (whose address, if any, names a state)."""
    tz = recipient_time_zone(number=number, facility=facility)
    # Only for tests and benchmarks that text at any hour (docs: README, "Compliance"): the statutes'
    # windows are lifted, the organization's own window and every cap still apply.
    laws = not settings.TEXTING_LAW_WINDOWS_OFF_FOR_TESTS
    rules: list[Rule] = [Rule(FEDERAL, tz, "")] if laws else []
    states: list[str] = []
    by_address = state_of_address(state=getattr(owner, "state", ""), postal_code=getattr(owner, "postal_code", ""))
    by_number = state_of_number(number)
    for state, because in ((by_address, "by their address"), (by_number, "by the area code")):
        jurisdiction = JURISDICTIONS.get(state)
        if jurisdiction is None or state in states:
            continue
        states.append(state)
        if not laws:
            jurisdiction = replace(jurisdiction, windows=((time(0), time.max),) * 7)
        # The area code's own zone, and for an address each zone of the state: a Florida address
        # with a Texas number is held to both states' hours in every zone they could be in.
        zones = {str(tz)} if because == "by the area code" else set(jurisdiction.time_zones)
        rules.extend(Rule(jurisdiction, zoneinfo.ZoneInfo(zone), because) for zone in sorted(zones))
    rules.append(Rule(organization_rules(organization), tz, ""))
    return Recipient(tz=tz, rules=tuple(rules), states=tuple(states))


# --- counting texts for a cap ----------------------------------------------------------------


def _counted(messages: QuerySet[Message], *, out_only: bool) -> QuerySet[Any]:  # annotated with `moment`
    S = Message.Status
    statuses = [S.SENDING, S.SENT, S.DELIVERED, S.UNDELIVERED, S.NEEDS_RECONCILIATION]
    if not out_only:
        statuses += [S.QUEUED, S.SCHEDULED]
    return (
        messages.filter(direction=Message.Direction.OUTBOUND, confirms_event__isnull=True)
        .filter(Q(status__in=statuses) | Q(status=S.FAILED, provider_sid__isnull=False))
        .annotate(moment=counted_moment())  # the expression of the index message_org_to_counted
    )


def texts_counted(
    *,
    organization: Organization,
    number: ParsedNumber,
    until: datetime,
    exclude_id: int | None = None,
    out_only: bool = False,
) -> list[datetime]:
    """When each text that counts towards a cap went (or will go) out, in the 24 hours up to ``until``.

    Counted: every outbound text from the organization to the number (the one subject of
    ``jurisdictions.SAME_SUBJECT``), replies within a conversation included, that reached the
    provider or is queued or scheduled to. Not counted: the opt-out confirmation (the FCC's one
    allowed text after a revocation) and texts that failed before reaching the provider.
    ``out_only`` (the worker's claim) counts only texts already handed to the provider, so texts
    waiting side by side do not hold each other back.
    """
    rows = _counted(Message.objects.filter(organization=organization, to_number=number), out_only=out_only).filter(
        moment__gt=until - DAY, moment__lte=until
    )
    if exclude_id is not None:
        rows = rows.exclude(pk=exclude_id)
    return sorted(rows.values_list("moment", flat=True))


def texts_counted_by_number(
    *, organization: Organization, numbers: list[ParsedNumber], until: datetime
) -> dict[str, list[datetime]]:
    """``texts_counted`` for several numbers in one query, keyed by E.164 (the home list)."""
    rows = (
        _counted(Message.objects.filter(organization=organization, to_number__in=numbers), out_only=False)
        .filter(moment__gt=until - DAY, moment__lte=until)
        .values_list("to_number", "moment")
    )
    result: dict[str, list[datetime]] = {}
    for number, moment in rows:
        result.setdefault(number.as_e164, []).append(moment)
    return {key: sorted(value) for key, value in result.items()}


# --- the verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why a text may not go out at a moment, and the first moment it may."""

    code: str  # quiet_hours | frequency_cap
    message: str
    next_allowed_at: datetime | None  # None only for ``no_texting_window``
    jurisdiction: str  # the code of the rule that refused: US, FL, …, ORG


def _cap_frees_at(recipient: Recipient, sent: list[datetime], moment: datetime) -> datetime | None:
    cap = recipient.cap
    if cap is None:
        return None
    within = [t for t in sent if moment - DAY < t <= moment]
    if len(within) < cap[0]:
        return None
    return within[len(within) - cap[0]] + DAY


def _first_allowed(recipient: Recipient, sent: list[datetime], moment: datetime) -> datetime | None:
    """The first moment from ``moment`` on when every rule is open and no cap is full; ``None`` if none
    within two weeks (the organization's hours never meet the law's)."""
    horizon = moment + timedelta(days=14)
    while moment <= horizon:  # each pass moves forward to a rule's next opening
        later = _cap_frees_at(recipient, sent, moment)
        if later is not None and later > moment:
            moment = later
            continue
        opens = [o for o in (rule.opens_at(moment) for rule in recipient.rules) if o is not None]
        if not opens:
            return moment
        moment = max(opens)
    return None


def _name(rule: Rule) -> str:
    if not rule.is_statute:
        return rule.jurisdiction.name
    law = rule.jurisdiction.name if rule.jurisdiction.code == "US" else f"{rule.jurisdiction.name} law"
    return f"{law} ({rule.because})" if rule.because else law


def send_refusal(*, recipient: Recipient, at: datetime, sent: list[datetime]) -> Refusal | None:
    """``None`` when a text may go out at ``at``; else the refusal, naming the rule and when it opens.

    ``sent`` are the moments of the texts that count towards a cap (``texts_counted``).
    """
    closed = [rule for rule in recipient.rules if rule.opens_at(at) is not None]
    capped = _cap_frees_at(recipient, sent, at)
    if not closed and capped is None:
        return None
    allowed = _first_allowed(recipient, sent, at)
    if allowed is None:
        return Refusal(
            code="no_texting_window",
            message="This person can never be texted under the organization's own texting hours: they never "
            "overlap the hours the law allows here. A manager can widen them in admin.",
            next_allowed_at=None,
            jurisdiction="ORG",
        )
    allowed = allowed.astimezone(recipient.tz)
    if closed:
        # Name the law before the organization's own hours, a state before federal law.
        rule = min(closed, key=lambda r: (not r.is_statute, r.jurisdiction.code == "US"))
        return Refusal(
            code="quiet_hours",
            message=f"It is outside texting hours for this person: {_name(rule)} allows texts "
            f"{rule.window_text(at)} their time. The next allowed time is {display_moment(allowed)}.",
            next_allowed_at=allowed,
            jurisdiction=rule.jurisdiction.code,
        )
    cap = recipient.cap
    assert cap is not None  # every rule is open, so the cap is what holds the text
    limit, rule = cap
    # The count is the texts that really went out or wait (more than the cap when a stricter rule came
    # in later, or texts were sent before a manager lowered the organization's own cap).
    counted = len([t for t in sent if at - DAY < t <= at])
    # "Acme's own texting hours allows 2 texts" misreads: the organization's cap is its daily limit.
    own = rule.jurisdiction.name.removesuffix(" texting hours")
    whose = f"{_name(rule)} allows" if rule.is_statute else f"{own} daily limit is"
    return Refusal(
        code="frequency_cap",
        message=f"{whose} {limit} text{'s' if limit != 1 else ''} to this person in 24 hours, and {counted} already "
        f"went out or {'are' if counted != 1 else 'is'} on the way. The next can go at {display_moment(allowed)}.",
        next_allowed_at=allowed,
        jurisdiction=rule.jurisdiction.code,
    )


def next_allowed_at(*, recipient: Recipient, at: datetime, sent: list[datetime] | None = None) -> datetime | None:
    """``None`` when a text may go out at ``at``, else the first moment it may."""
    refusal = send_refusal(recipient=recipient, at=at, sent=sent or [])
    return refusal.next_allowed_at if refusal else None


def closes_at(*, recipient: Recipient, at: datetime) -> datetime:
    """When the open window at ``at`` next closes (the earliest end among the rules), in the recipient's zone."""
    ends = []
    for rule in recipient.rules:
        local = at.astimezone(rule.tz)
        ends.append(datetime.combine(local.date(), rule.jurisdiction.window_on(local.weekday())[1], tzinfo=rule.tz))
    return min(ends).astimezone(recipient.tz)
