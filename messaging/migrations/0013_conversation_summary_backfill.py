"""Fill the conversation summaries (0012) from the texts already stored: one row per person with texts.

Batched by person id (``BATCH`` people per round, each round a few queries through the person's
thread index), on SQLite and PostgreSQL alike. Written with this migration's own models, so it keeps
working as the app's models move on. From here on ``messaging.services.conversation_touch`` keeps the
summaries with every text.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce

BATCH = 2000
SUMMARY = (
    "last_message_id", "last_at", "last_inbound_id", "last_inbound_at", "answered_at", "unread", "waiting", "flagged",
)  # fmt: skip


def _summaries(apps: Any, owner: str, ids: list[int]) -> list[dict[str, Any]]:
    """The summary of each person of ``ids`` (``owner``: lead or customer) who has texts."""
    Message = apps.get_model("messaging", "Message")
    ConsentEvent = apps.get_model("interactions", "ConsentEvent")
    Person = apps.get_model("interactions", owner.capitalize())
    texts = Message.objects.filter(**{owner: OuterRef("pk")}).order_by("-created_at", "-id")
    inbound = texts.filter(direction="inbound")
    answered = texts.filter(direction="outbound", sent_by__isnull=False)
    handled = ConsentEvent.objects.filter(
        organization=OuterRef("organization"),
        number=OuterRef("from_number"),
        action="revoke",
        created_at__gte=Coalesce(OuterRef("received_at"), OuterRef("created_at")),
    )
    waiting_flags = inbound.filter(flagged_opt_out_request=True, flag_dismissed_at__isnull=True).exclude(
        Exists(handled)
    )
    people = (
        Person.objects.filter(pk__in=ids)
        .annotate(
            last_message_id=Subquery(texts.values("id")[:1]),
            last_at=Subquery(texts.values("created_at")[:1]),
            last_inbound_id=Subquery(inbound.values("id")[:1]),
            last_inbound_at=Subquery(inbound.values("created_at")[:1]),
            answered_at=Subquery(answered.values("created_at")[:1]),
            flagged=Exists(waiting_flags),
        )
        .values("pk", "organization_id", *SUMMARY[:5], "flagged")
    )
    return [p for p in people if p["last_message_id"] is not None]


def _unread(row: dict[str, Any], read_at: Any) -> bool:
    seen = max((t for t in (read_at, row["answered_at"]) if t is not None), default=None)
    return row["last_inbound_at"] is not None and (seen is None or row["last_inbound_at"] > seen)


def _waiting(row: dict[str, Any]) -> bool:
    inbound, answered = row["last_inbound_at"], row["answered_at"]
    return inbound is not None and (answered is None or inbound > answered)


def _fill(apps: Any, owner: str, ids: list[int]) -> None:
    Conversation = apps.get_model("messaging", "Conversation")
    rows = _summaries(apps, owner, ids)
    held = {getattr(c, f"{owner}_id"): c for c in Conversation.objects.filter(**{f"{owner}_id__in": [r["pk"] for r in rows]})}
    new, changed = [], []
    for row in rows:
        conversation = held.get(row["pk"]) or Conversation(organization_id=row["organization_id"], **{f"{owner}_id": row["pk"]})
        for name in SUMMARY[:5]:
            setattr(conversation, name, row[name])
        conversation.flagged = row["flagged"]
        conversation.waiting = _waiting(row)
        conversation.unread = conversation.marked_unread or _unread(row, conversation.read_at)
        (changed if conversation.pk else new).append(conversation)
    Conversation.objects.bulk_create(new, batch_size=BATCH)
    Conversation.objects.bulk_update(changed, SUMMARY, batch_size=BATCH)


def backfill(apps: Any, schema_editor: Any) -> None:
    for owner in ("lead", "customer"):
        Person = apps.get_model("interactions", owner.capitalize())
        after = 0
        while ids := list(Person.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:BATCH]):
            _fill(apps, owner, ids)
            after = ids[-1]


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0011_named_indexes_and_trigram_search"),
        ("messaging", "0012_conversation_summary"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
