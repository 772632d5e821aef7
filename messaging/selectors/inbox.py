"""The inbox: conversations with texts, unread replies first ("all", "mine", "unassigned"), the replies
waiting on us, the open stop requests, done and snoozed ones, and its search; the header's unread count.

Everything here reads the conversation summaries (``Conversation``: one row per person, written with
each text by ``messaging.services.conversation_touch``), never the organization's texts: the cost is
the page shown, not the history (DESIGN rule 13)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.replica import replica_ok
from core.search import newest_matches
from interactions.models import Customer, Lead, Organization, owner_kwargs
from interactions.selectors import people_matching_ids

from ..models import Conversation, Message
from .inbound import inbound_flagged


@dataclass
class InboxRow:
    person: Lead | Customer
    conversation: Conversation
    last_at: datetime
    last_inbound_at: datetime | None
    unread: bool
    assigned_to: object | None
    last_body: str = ""
    last_inbound: bool = False  # the newest text is the person's reply
    reply_phone_id: int | None = None  # the number that wrote last (the inbox replies on it), else none known
    numbers: list = field(default_factory=list)

    @property
    def key(self) -> str:
        """How the inbox's URL names the person (``?open=lead-12``)."""
        return f"{self.person.kind}-{self.person.pk}"

    @property
    def snoozed(self) -> bool:
        return self.conversation.snoozed_until is not None and self.conversation.snoozed_until > timezone.now()


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


# What the inbox shows: the open list (unread first, then the latest activity), narrowed to an agent
# or to nobody; the replies waiting on us; the open stop requests; done and snoozed conversations.
SHOWS = ("all", "mine", "unassigned", "waiting", "flagged", "snoozed", "done")


def _shown(conversations: QuerySet[Conversation], *, show: str, user: User, now: datetime) -> QuerySet[Conversation]:
    """``conversations`` in ``show``, in its order: each a walk down one index (ARCHITECTURE.md "Conversations")."""
    awake = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)  # a snooze whose time came is back
    open_ = conversations.filter(last_at__isnull=False, done_at__isnull=True)
    if show == "done":
        return conversations.filter(done_at__isnull=False).order_by("-done_at")
    if show == "snoozed":
        return conversations.filter(snoozed_until__gt=now, done_at__isnull=True).order_by("snoozed_until")
    if show == "flagged":
        return conversations.filter(flagged=True, last_at__isnull=False).order_by("-last_at")
    if show == "waiting":
        return open_.filter(awake, waiting=True).order_by("-last_at")
    if show == "mine":
        open_ = open_.filter(assigned_to=user)
    elif show == "unassigned":
        open_ = open_.filter(assigned_to__isnull=True)
    return open_.filter(awake).order_by("-unread", "-last_at")


@replica_ok()  # seconds behind is fine for a list; who just acted reads the primary (core/replica.py)
def inbox(
    *,
    organization: Organization,
    user: User,
    show: str = "all",
    query: str = "",
    limit: int = 50,
    now: datetime | None = None,
) -> list[InboxRow]:
    """Conversations with texts in ``show`` (``SHOWS``; "all" is every open one, unread replies first,
    then the latest activity), matching ``query`` (names, numbers and text bodies) if given.

    Reads the conversation summaries (``Conversation``, kept with every text) with their latest text
    and assignee, then the people by id: three queries, whatever the organization's history.
    """
    conversations = Conversation.objects.filter(organization=organization)
    if query.strip():
        leads, customers = _matching_owner_ids(organization, query)
        conversations = conversations.filter(Q(lead_id__in=leads) | Q(customer_id__in=customers))
    found = list(
        _shown(conversations, show=show if show in SHOWS else "all", user=user, now=now or timezone.now())
        .select_related("last_message", "last_inbound", "assigned_to")
        .defer("last_message__search", "last_inbound__search")[:limit]
    )
    leads_by_id = Lead.objects.select_related("facility").in_bulk([c.lead_id for c in found if c.lead_id])
    customers_by_id = Customer.objects.select_related("facility").in_bulk(
        [c.customer_id for c in found if c.customer_id]
    )
    rows = []
    for c in found:
        person = leads_by_id.get(c.lead_id) if c.lead_id else customers_by_id.get(c.customer_id)
        if person is None or c.last_at is None:
            continue
        last = c.last_message
        rows.append(
            InboxRow(
                person=person,
                conversation=c,
                last_at=c.last_at,
                last_inbound_at=c.last_inbound_at,
                unread=c.unread,
                assigned_to=c.assigned_to,
                last_body=last.body if last else "",
                last_inbound=last is not None and last.direction == Message.Direction.INBOUND,
                reply_phone_id=c.last_inbound.phone_number_id if c.last_inbound else None,
            )
        )
    return rows


def conversation_summary_of(*, person: Lead | Customer) -> dict[str, object]:
    """The summary fields of ``person``'s conversation as their texts say they are: what
    ``conversation_touch`` keeps, recomputed from the texts (the tests hold the two equal)."""
    texts = Message.objects.filter(**owner_kwargs(person)).order_by("-created_at", "-id")
    last = texts.values_list("id", "created_at").first()
    inbound = texts.filter(direction=Message.Direction.INBOUND).values_list("id", "created_at").first()
    answered = texts.filter(direction=Message.Direction.OUTBOUND, sent_by__isnull=False).values_list(
        "created_at", flat=True
    )
    flagged = inbound_flagged(person.organization).filter(**owner_kwargs(person)).exists()
    return {
        "last_message_id": last[0] if last else None,
        "last_at": last[1] if last else None,
        "last_inbound_id": inbound[0] if inbound else None,
        "last_inbound_at": inbound[1] if inbound else None,
        "answered_at": answered.first(),
        "flagged": flagged,
    }


def inbox_version(rows: list[InboxRow]) -> str:
    """A fingerprint of the list as shown: the inbox's poll answers 204 while it is unchanged."""
    state = [
        (
            r.conversation.pk,
            r.conversation.last_message_id,
            r.unread,
            r.conversation.assigned_to_id,
            r.conversation.flagged,
            r.conversation.waiting,
            r.conversation.done_at,
            r.conversation.snoozed_until,
        )
        for r in rows
    ]
    return hashlib.blake2b(repr(state).encode(), digest_size=8).hexdigest()


UNREAD_COUNTED = 99  # the badge counts up to this many, then says "99+": its cost never grows past it


@dataclass(frozen=True)
class UnreadSummary:
    count: int  # conversations with an unread reply, at most UNREAD_COUNTED + 1
    latest_id: int  # the newest inbound text's id (0 without any): a new one means "a reply arrived"
    latest: Message | None

    @property
    def version(self) -> str:
        return f"{self.count}-{self.latest_id}"

    @property
    def label(self) -> str:
        return f"{UNREAD_COUNTED}+" if self.count > UNREAD_COUNTED else str(self.count)


@replica_ok()
def unread_summary(*, organization: Organization) -> UnreadSummary:
    """How many conversations wait with an unread reply (up to ``UNREAD_COUNTED``, then "99+"), and the
    newest reply: two small reads of the conversation summaries, each a few rows of its own index
    (``conversation_unread``, ``conversation_last_inbound``)."""
    conversations = Conversation.objects.filter(organization=organization)
    unread = conversations.filter(unread=True).order_by("-last_inbound_at").values_list("id", flat=True)
    count = len(unread[: UNREAD_COUNTED + 1])
    newest = (
        conversations.filter(last_inbound_at__isnull=False)
        .select_related("last_inbound__lead", "last_inbound__customer")
        .defer("last_inbound__search")
        .order_by("-last_inbound_at")
        .first()
    )
    latest = newest.last_inbound if newest else None
    return UnreadSummary(count=count, latest_id=latest.pk if latest else 0, latest=latest)
