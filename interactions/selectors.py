"""Reads for cards and lists. Querysets are scoped to one organization here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet

from core.phonenumbers import readable
from core.replica import replica_ok

from .models import (
    Consent,
    ConsentEvent,
    Customer,
    Facility,
    History,
    Lead,
    Organization,
    PhoneNumber,
)


@dataclass(frozen=True)
class ConsentState:
    """The consent of one number, as cards, the API and the messaging service read it."""

    number: str
    status: str  # granted | revoked | none
    source: str | None = None
    at: datetime | None = None
    person_opted_out_at: datetime | None = None
    evidence: str = ""  # the latest event's note (why an agent opted the number out, …)
    actor_name: str = ""  # who recorded the latest event, when a person did

    @property
    def agent_opted_out(self) -> bool:
        """An agent recorded the opt-out (the person did not): an agent may record permission again."""
        return self.status == Consent.Status.REVOKED and self.source == ConsentEvent.Source.AGENT

    @property
    def is_granted(self) -> bool:
        return self.status == Consent.Status.GRANTED

    @property
    def is_revoked(self) -> bool:
        """Permission was withdrawn (by the person, an agent or the API): never texted until granted again."""
        return self.status == Consent.Status.REVOKED

    @property
    def person_opted_out(self) -> bool:
        return self.person_opted_out_at is not None


def consent_state_from_row(row: Consent) -> ConsentState:
    """The state of a ``Consent`` row loaded with ``select_related("last_event__actor")``."""
    event = row.last_event
    return ConsentState(
        number=row.number.as_e164,
        status=row.status,
        source=event.source,
        at=event.created_at,
        person_opted_out_at=row.person_opted_out_at,
        evidence=event.evidence,
        actor_name=event.actor_name,
    )


def leads_for(*, organization: Organization) -> QuerySet[Lead]:
    return Lead.objects.filter(organization=organization).select_related("facility")


def customers_for(*, organization: Organization) -> QuerySet[Customer]:
    return Customer.objects.filter(organization=organization).select_related("facility")


def person_for(*, organization: Organization, kind: str, pk: int | str) -> Lead | Customer | None:
    """The lead (``kind`` "lead") or customer ("customer") ``pk`` of ``organization`` with its facility and
    organization, or ``None``: URLs name a person by kind and id, and another organization's id is not found."""
    if kind == Lead.kind:
        return leads_for(organization=organization).select_related("organization").filter(pk=pk).first()
    if kind == Customer.kind:
        return customers_for(organization=organization).select_related("organization").filter(pk=pk).first()
    return None


def _with_numbers(qs: QuerySet) -> QuerySet:
    return qs.prefetch_related(Prefetch("phone_numbers", queryset=PhoneNumber.objects.order_by("-is_primary", "id")))


def _digits(query: str) -> str:
    return "".join(ch for ch in query if ch.isdigit())


def _name_matches(query: str) -> Q:
    """First or last name containing ``query``, or "first last" split across the two (trigram indexes)."""
    matches = Q(first_name__icontains=query) | Q(last_name__icontains=query)
    parts = query.split()
    if len(parts) >= 2:
        matches |= Q(first_name__icontains=parts[0], last_name__icontains=" ".join(parts[1:]))
    return matches


def _matching(
    model: type[Lead] | type[Customer], *, organization: Organization, query: str, home: bool = True
) -> QuerySet:
    """``(id, updated_at)`` of ``model``'s people in ``organization`` matching ``query`` (all: no query).

    One branch per index, joined with UNION: names (trigram indexes), numbers (the numbers' trigram
    index, three digits or more) and, for the home list (``home``: archived people left out),
    facilities (few, read first). One ``OR`` across the three tables would leave PostgreSQL no
    index to use, and read every person.
    """
    people = model.objects.filter(organization=organization)
    if home:
        people = people.filter(archived_at__isnull=True)
    if not query:
        return people.values_list("id", "updated_at")
    branches = [people.filter(_name_matches(query))]
    if len(digits := _digits(query)) >= 3:
        branches.append(people.filter(phone_numbers__number__contains=digits))
    facilities = home and list(
        Facility.objects.filter(organization=organization, name__icontains=query).values_list("pk", flat=True)
    )
    if facilities:
        branches.append(people.filter(facility_id__in=facilities))
    # ``order_by()``: no branch sorts by the model's default ordering; the caller orders the whole.
    first, *rest = [branch.order_by().values_list("id", "updated_at") for branch in branches]
    return first.union(*rest) if rest else first


@replica_ok()  # the home list and its search: seconds behind is fine (core/replica.py)
def people_search(
    *, organization: Organization, query: str = "", kind: str = "", offset: int = 0, limit: int = 25
) -> list[Lead | Customer]:
    """Leads and customers matching a name, number or facility fragment, newest activity first.

    ``limit`` people after the first ``offset``: each kind reads only as many rows as the page
    needs, in ``updated_at`` order (``lead_org_updated``, ``customer_org_updated``), so a page costs
    the same whatever the organization's size. Archived people are left out (their cards still
    open from history, links and the admin).
    """
    query = query.strip()
    wanted = offset + limit
    found: list[tuple[datetime, int, type[Lead] | type[Customer]]] = []
    for model, name in ((Lead, "lead"), (Customer, "customer")):
        if kind in ("", name):
            rows = _matching(model, organization=organization, query=query).order_by("-updated_at", "-id")[:wanted]
            found += [(updated_at, pk, model) for pk, updated_at in rows]
    found.sort(key=lambda row: (row[0], row[1]), reverse=True)
    page = found[offset:wanted]
    by_model: dict[type, dict[int, Lead | Customer]] = {}
    for model in (Lead, Customer):
        ids = [pk for _, pk, m in page if m is model]
        by_model[model] = _with_numbers(model.objects.select_related("facility")).in_bulk(ids) if ids else {}
    return [by_model[model][pk] for _, pk, model in page if pk in by_model[model]]


def people_matching_ids(*, organization: Organization, query: str, limit: int = 500) -> tuple[set[int], set[int]]:
    """Ids of the (at most ``limit`` most recently active) leads and customers whose name or number matches."""
    query = query.strip()
    leads = _matching(Lead, organization=organization, query=query, home=False)
    customers = _matching(Customer, organization=organization, query=query, home=False)
    leads, customers = (rows.order_by("-updated_at", "-id")[:limit] for rows in (leads, customers))
    return {pk for pk, _ in leads}, {pk for pk, _ in customers}


def consents_by_number(*, organization: Organization, numbers: list[PhoneNumber]) -> dict[str, Consent]:
    """Consent rows keyed by E.164 for the given numbers, in one query."""
    e164s = {n.e164 for n in numbers}
    rows = Consent.objects.filter(organization=organization, number__in=e164s).select_related("last_event__actor")
    return {row.number.as_e164: row for row in rows}


def phone_number_for(*, organization: Organization, pk: int | str, consent: bool = True) -> PhoneNumber | None:
    """A phone number of ``organization`` with its owner and ``consent`` loaded, or ``None``.

    ``consent=False``: without ``consent``, for a caller that reads the owner's numbers with theirs."""
    phone = (
        PhoneNumber.objects.filter(organization=organization, pk=pk)
        .select_related(
            "organization", "lead__facility", "lead__organization", "customer__facility", "customer__organization"
        )
        .first()
    )
    if phone is None or not consent:
        return phone
    numbers_with_consent(organization=organization, numbers=[phone])
    return phone


# --- cards ---------------------------------------------------------------------------------

CARD_HISTORY_LIMIT = 50


@dataclass(frozen=True)
class Card:
    """Everything an interaction card shows, read in a fixed number of queries.

    ``numbers`` are the person's phone numbers, primary first, each carrying its ``consent``
    (a ``ConsentState``). ``focus`` is the past interaction a History card is about.
    """

    person: Lead | Customer
    numbers: list[PhoneNumber]
    history: list[History]
    history_more: bool  # older entries exist beyond ``CARD_HISTORY_LIMIT``
    focus: History | None = None

    @property
    def primary(self) -> PhoneNumber | None:
        return self.numbers[0] if self.numbers else None

    @property
    def others(self) -> list[PhoneNumber]:
        return self.numbers[1:]

    def number(self, pk: int | str | None) -> PhoneNumber | None:
        """One of the person's numbers by id (``None`` for a foreign or missing id)."""
        return next((n for n in self.numbers if str(n.pk) == str(pk)), None)


def numbers_with_consent(*, organization: Organization, numbers: list[PhoneNumber]) -> list[PhoneNumber]:
    """Attach each number's ``consent`` state (one query for all) and put the primary first."""
    rows = consents_by_number(organization=organization, numbers=numbers)
    for phone in numbers:
        row = rows.get(phone.e164)
        phone.consent = (
            consent_state_from_row(row) if row else ConsentState(number=phone.e164, status=Consent.Status.NONE)
        )
    return sorted(numbers, key=lambda p: (not p.is_primary, p.created_at, p.pk))


def _attach_owner(numbers: list[PhoneNumber], person: Lead | Customer) -> list[PhoneNumber]:
    """Point each number at its already-loaded owner, sparing templates a query per number."""
    for phone in numbers:
        phone.organization = person.organization
        setattr(phone, "lead" if isinstance(person, Lead) else "customer", person)
    return numbers


def owner_numbers(*, owner: Lead | Customer) -> list[PhoneNumber]:
    """A lead's or customer's numbers with consent, primary first."""
    numbers = _attach_owner(list(owner.phone_numbers.all()), owner)
    return numbers_with_consent(organization=owner.organization, numbers=numbers)


@dataclass(frozen=True)
class LedgerEntry:
    """A consent change of one of the person's numbers, shown in the card's History like an entry.

    The ledger is per number, so a link opt-out or a recorded permission is read from it rather
    than copied into every holder's history.
    """

    pk: None
    kind: str
    summary: str
    occurred_at: object
    agent: object
    url: str

    def get_kind_display(self) -> str:
        return History.Kind.CONSENT.label

    def get_absolute_url(self) -> str:
        return self.url


_HOW = {
    ConsentEvent.Source.SMS_KEYWORD: "by text keyword",
    ConsentEvent.Source.UNSUBSCRIBE_LINK: "through the unsubscribe link",
    ConsentEvent.Source.CARRIER: "by the carrier (number unsubscribed)",
    ConsentEvent.Source.AGENT: "by an agent",
    ConsentEvent.Source.API: "through the API",
    ConsentEvent.Source.WEB_FORM: "on a web form",
    ConsentEvent.Source.PMS_IMPORT: "from the PMS import",
    ConsentEvent.Source.SMS_WORDS: "by asking in a text not to be texted",
}


def consent_how(source: str) -> str:
    """How a consent change came, in words for the card's History: never the stored code (``sms_words``).

    A source added to ``ConsentEvent.Source`` without its phrase here reads as its label
    (tests/interactions/test_history_words.py checks every choice)."""
    if source in _HOW:
        return _HOW[source]
    label = ConsentEvent.Source(source).label if source in ConsentEvent.Source.values else "from an unknown source"
    return f"({label})"


def _ledger_entries(person: Lead | Customer, numbers: list[PhoneNumber], limit: int) -> list[LedgerEntry]:
    if not numbers:
        return []
    events = ConsentEvent.objects.filter(
        organization_id=person.organization_id, number__in=[n.number for n in numbers]
    ).select_related("actor")
    entries = []
    for event in events.order_by("-created_at", "-id")[:limit]:
        what = "Opted out" if event.action == ConsentEvent.Action.REVOKE else "Text permission recorded"
        note = f": {event.evidence}" if event.evidence and event.source == ConsentEvent.Source.AGENT else ""
        summary = f"{what} for {readable(event.number)} {consent_how(event.source)}{note}"
        entries.append(
            LedgerEntry(None, History.Kind.CONSENT, summary, event.created_at, event.actor, person.get_absolute_url())
        )
    return entries


def _card(*, organization: Organization, person: Lead | Customer, focus: History | None = None) -> Card:
    # One row past the limit tells whether older entries exist, without a COUNT query.
    history = list(
        person.history.select_related("agent", "phone_number").order_by("-occurred_at", "-id")[: CARD_HISTORY_LIMIT + 1]
    )
    numbers = owner_numbers(owner=person)
    more = len(history) > CARD_HISTORY_LIMIT
    history = sorted(
        history[:CARD_HISTORY_LIMIT] + _ledger_entries(person, numbers, CARD_HISTORY_LIMIT),
        key=lambda entry: entry.occurred_at,
        reverse=True,
    )
    return Card(
        person=person,
        numbers=numbers,
        history=history[:CARD_HISTORY_LIMIT],
        history_more=more or len(history) > CARD_HISTORY_LIMIT,
        focus=focus,
    )


def lead_card(*, organization: Organization, pk: int) -> Card | None:
    """A lead's card, or ``None`` when no such lead exists in ``organization``."""
    person = leads_for(organization=organization).select_related("organization").filter(pk=pk).first()
    return _card(organization=organization, person=person) if person else None


def customer_card(*, organization: Organization, pk: int) -> Card | None:
    """A customer's card, or ``None`` when no such customer exists in ``organization``."""
    person = customers_for(organization=organization).select_related("organization").filter(pk=pk).first()
    return _card(organization=organization, person=person) if person else None


def history_card(*, organization: Organization, pk: int) -> Card | None:
    """The card of one past interaction: the interaction, and its person's card around it."""
    entry = (
        History.objects.filter(organization=organization, pk=pk)
        .select_related(
            "agent",
            "phone_number",
            "lead__facility",
            "lead__organization",
            "customer__facility",
            "customer__organization",
        )
        .first()
    )
    if entry is None:
        return None
    return _card(organization=organization, person=entry.owner, focus=entry)


# --- API lists ------------------------------------------------------------------------------


def leads_with_numbers(*, organization: Organization) -> QuerySet[Lead]:
    """Leads of ``organization`` with their numbers prefetched, in a stable order for paging."""
    return _with_numbers(leads_for(organization=organization)).order_by("-created_at", "-id")


def customers_with_numbers(*, organization: Organization) -> QuerySet[Customer]:
    return _with_numbers(customers_for(organization=organization)).order_by("last_name", "first_name", "id")


def phone_numbers_for(*, organization: Organization) -> QuerySet[PhoneNumber]:
    return PhoneNumber.objects.filter(organization=organization).select_related(
        "lead__facility", "customer__facility", "organization"
    )


def consent_history(*, organization: Organization, number, limit: int = 200) -> list[ConsentEvent]:
    """The ledger of one number, newest first (at most ``limit`` entries)."""
    events = ConsentEvent.objects.filter(organization=organization, number=number).select_related("actor")
    return list(events.order_by("-created_at", "-id")[:limit])


def consent_events_after(
    *, organization: Organization, after: int = 0, number=None, limit: int = 100
) -> list[ConsentEvent]:
    """The organization's ledger events with an id above ``after``, oldest first (the integrators' feed)."""
    events = ConsentEvent.objects.filter(organization=organization, pk__gt=after).select_related("actor")
    if number is not None:
        events = events.filter(number=number)
    return list(events.order_by("id")[:limit])
