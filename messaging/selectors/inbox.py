"""The inbox: conversations with texts, unread replies first, "mine", "unassigned" or "all", and its search;
the header's unread count."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet

from core.search import newest_matches
from interactions.models import Customer, Lead, Organization, owner_kwargs
from interactions.selectors import people_matching_ids

from ..models import Conversation, Message


@dataclass
class InboxRow:
    person: Lead | Customer
    last_at: datetime
    last_inbound_at: datetime | None
    unread: bool
    assigned_to: object | None
    last_body: str = ""
    numbers: list = field(default_factory=list)


def _unread(last_inbound: datetime | None, read_at: datetime | None, answered_at: datetime | None = None) -> bool:
    """A reply is unread until an agent read the thread, or answered it (an agent's text after it)."""
    seen = max((t for t in (read_at, answered_at) if t is not None), default=None)
    return last_inbound is not None and (seen is None or last_inbound > seen)


_ANSWERED = Max("created_at", filter=Q(direction=Message.Direction.OUTBOUND, sent_by__isnull=False))


def _matching_owner_ids(organization: Organization, query: str) -> tuple[set[int], set[int]]:
    """Leads and customers whose name or number matches ``query``, or who have a text that does.

    Names and numbers: ``interactions.selectors.people_matching_ids`` (trigram indexes). Texts:
    ``message_body_search``, the newest matches first.
    """
    leads, customers = people_matching_ids(organization=organization, query=query)
    for lead_id, customer_id in message_body_search(organization=organization, query=query).values_list(
        "lead_id", "customer_id"
    )[:SEARCH_TEXTS]:
        if lead_id:
            leads.add(lead_id)
        if customer_id:
            customers.add(customer_id)
    return leads, customers


SEARCH_TEXTS = 500  # the newest matching texts the inbox search reads


def message_body_search(*, organization: Organization, query: str, newest: int = SEARCH_TEXTS) -> QuerySet[Message]:
    """``organization``'s newest ``newest`` texts whose body matches ``query``, newest first.

    PostgreSQL: the words of the query (``websearch_to_tsquery``: "quoted phrases", ``-not``, ``or``,
    stemmed in English) against the stored ``search`` vector; ``core.search.newest_matches`` picks
    the plan by how many texts match (the GIN index ``message_search`` first for a rare word, the
    newest texts first for a common one) and reads their ids; the queryset is those texts. SQLite
    (``make run``): the fragment anywhere in the body.
    """
    texts = Message.objects.filter(organization=organization)
    if connection.vendor == "postgresql":
        ids = newest_matches(
            model=Message, scope=("organization_id", organization.pk), query=query.strip(), newest=newest
        )
        return texts.filter(pk__in=ids).order_by("-created_at", "-id")
    matching = texts.filter(body__icontains=query.strip()).order_by("-created_at", "-id")
    return texts.filter(pk__in=matching.values("pk")[:newest]).order_by("-created_at", "-id")


def inbox(
    *, organization: Organization, user: User, show: str = "all", query: str = "", limit: int = 100
) -> list[InboxRow]:
    """Conversations with texts, unread replies first, then the latest activity first.

    ``show`` is ``mine`` (assigned to ``user``), ``unassigned`` or ``all``; ``query`` matches
    names, numbers and text bodies.
    """
    rows = _latest_activity_per_person(organization=organization, query=query)
    states = {
        (c.lead_id, c.customer_id): c
        for c in Conversation.objects.filter(organization=organization).select_related("assigned_to")
    }
    leads, customers = _people_of(rows)
    result: list[InboxRow] = []
    for r in rows:
        person = leads.get(r["lead_id"]) if r["lead_id"] else customers.get(r["customer_id"])
        state = states.get((r["lead_id"], r["customer_id"]))
        if person is None or not _shown(state, show=show, user=user):
            continue
        result.append(
            InboxRow(
                person=person,
                last_at=r["last_at"],
                last_inbound_at=r["last_inbound_at"],
                unread=_unread(r["last_inbound_at"], state.read_at if state else None, r["answered_at"]),
                assigned_to=state.assigned_to if state else None,
            )
        )
    result.sort(key=lambda row: (not row.unread, -row.last_at.timestamp()))
    result = result[:limit]
    _attach_last_text(result)
    return result


def _latest_activity_per_person(*, organization: Organization, query: str) -> list[Mapping[str, Any]]:
    """Per lead or customer with texts (matching ``query``, if any): the latest text, reply and answer; latest first."""
    texts = Message.objects.filter(organization=organization).filter(Q(lead__isnull=False) | Q(customer__isnull=False))
    if query.strip():
        leads, customers = _matching_owner_ids(organization, query)
        texts = texts.filter(Q(lead_id__in=leads) | Q(customer_id__in=customers))
    grouped = (
        texts.values("lead_id", "customer_id")
        .annotate(
            last_at=Max("created_at"),
            last_inbound_at=Max("created_at", filter=Q(direction=Message.Direction.INBOUND)),
            answered_at=_ANSWERED,
            count=Count("id"),
        )
        .order_by("-last_at")[:500]
    )
    return list(grouped)


def _people_of(rows: list[Mapping[str, Any]]) -> tuple[dict[int, Lead], dict[int, Customer]]:
    """The leads and the customers of ``rows`` by id, with their facilities: two queries."""
    leads = Lead.objects.select_related("facility").in_bulk([r["lead_id"] for r in rows if r["lead_id"]])
    customers = Customer.objects.select_related("facility").in_bulk(
        [r["customer_id"] for r in rows if r["customer_id"]]
    )
    return leads, customers


def _shown(state: Conversation | None, *, show: str, user: User) -> bool:
    """Whether a conversation belongs in the ``show`` filter: ``mine``, ``unassigned`` or ``all``."""
    if show == "mine":
        return state is not None and state.assigned_to_id == user.pk
    if show == "unassigned":
        return state is None or not state.assigned_to_id
    return True


def _attach_last_text(rows: list[InboxRow]) -> None:
    for row in rows:
        last = Message.objects.filter(**owner_kwargs(row.person)).order_by("-created_at", "-id").first()
        row.last_body = last.body if last else ""


@dataclass(frozen=True)
class UnreadSummary:
    count: int  # conversations with an unread reply
    latest_id: int  # the newest inbound text's id (0 without any): a new one means "a reply arrived"
    latest: Message | None

    @property
    def version(self) -> str:
        return f"{self.count}-{self.latest_id}"


def unread_summary(*, organization: Organization) -> UnreadSummary:
    """How many conversations wait with an unread reply, and the newest reply: two small queries."""
    held = Message.objects.filter(organization=organization).filter(Q(lead__isnull=False) | Q(customer__isnull=False))
    inbound = held.filter(direction=Message.Direction.INBOUND)
    latest = inbound.select_related("lead", "customer").order_by("-id").first()
    grouped = (
        held.values("lead_id", "customer_id")
        .annotate(last=Max("created_at", filter=Q(direction=Message.Direction.INBOUND)), answered=_ANSWERED)
        .filter(last__isnull=False)
    )
    reads = {
        (c["lead_id"], c["customer_id"]): c["read_at"]
        for c in Conversation.objects.filter(organization=organization).values("lead_id", "customer_id", "read_at")
    }
    count = sum(1 for g in grouped if _unread(g["last"], reads.get((g["lead_id"], g["customer_id"])), g["answered"]))
    return UnreadSummary(count=count, latest_id=latest.pk if latest else 0, latest=latest)
