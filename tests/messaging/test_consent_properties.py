"""Property: no sequence of consent events, queued sends and worker runs ever makes a provider
call for a number that has no consent at the moment of the call (docs/ARCHITECTURE.md rule 3)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ServiceError
from interactions.models import History
from interactions.services import consent_grant, consent_revoke, consent_status
from messaging.backends.locmem import LocmemBackend
from messaging.models import Message, UnsubscribeLink
from messaging.services import (
    message_queue,
    message_send,
    messages_reconcile_stuck,
    messages_requeue_stuck,
    unsubscribe_link_use,
)
from tests.factories import PhoneNumberFactory

NUMBERS = ["+15125550301", "+15125550302"]
GRANT_SOURCES = ["agent", "api", "web_form", "pms_import", "sms_keyword"]
REVOKE_SOURCES = ["agent", "api", "sms_keyword", "unsubscribe_link", "carrier"]


@dataclass
class ConsentCheckingBackend(LocmemBackend):
    """A provider that notes, at the moment of each call, whether the number had consent.

    The opt-out confirmation is the one text that goes without it (FCC 24-24): it is noted as
    granted when it is a confirmation of the revocation in force.
    """

    calls: list[tuple[str, bool]] = field(default_factory=list)

    def __post_init__(self):
        super().__init__()

    def send(self, message):
        state = consent_status(organization=message.organization, number=message.to_number)
        confirming = message.confirms_event_id is not None and not state.is_granted
        self.calls.append((str(message.to_number), state.is_granted or confirming))
        return super().send(message)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.integers(0, 1), st.sampled_from(GRANT_SOURCES)),
        st.tuples(st.just("revoke"), st.integers(0, 1), st.sampled_from(REVOKE_SOURCES)),
        st.tuples(st.just("link"), st.integers(0, 1), st.none()),
        st.tuples(st.just("queue"), st.integers(0, 1), st.none()),
        st.tuples(st.just("work"), st.integers(0, 5), st.none()),
        st.tuples(st.just("sweep"), st.none(), st.none()),
    ),
    min_size=1,
    max_size=20,
)


@pytest.fixture
def phones(facility):
    return [PhoneNumberFactory(lead__facility=facility, number=n) for n in NUMBERS]


@pytest.mark.django_db
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(granted_first=st.lists(st.booleans(), min_size=2, max_size=2), ops=operations)
def test_no_provider_call_without_consent_at_call_time(granted_first, ops, phones, facility, agent, open_all_day):
    backend = ConsentCheckingBackend()
    org = facility.organization
    with transaction.atomic():  # each example starts from the same state: rolled back at the end
        for number, granted in zip(NUMBERS, granted_first, strict=True):
            if granted:
                consent_grant(organization=org, number=number, source="web_form", evidence="quote form")
        for op, arg, source in ops:
            if op == "grant":
                try:
                    consent_grant(organization=org, number=NUMBERS[arg], source=source, evidence="said yes")
                except ServiceError as exc:
                    assert exc.code == "opted_out"  # only the person's START re-opts in after their opt-out
            elif op == "revoke":
                consent_revoke(organization=org, number=NUMBERS[arg], source=source, evidence="asked")
            elif op == "link":
                link = UnsubscribeLink.objects.filter(organization=org, number=NUMBERS[arg]).first()
                if link:
                    unsubscribe_link_use(token=link.token)
            elif op == "queue":
                before = (Message.objects.count(), History.objects.count())
                try:
                    message_queue(phone_number=phones[arg], sent_by=agent, body=f"Text {len(ops)}")
                except ServiceError as exc:
                    assert exc.code in {"no_consent", "opted_out"}
                    assert (Message.objects.count(), History.objects.count()) == before  # nothing written
            elif op == "work":
                queued = list(Message.objects.filter(status="queued").order_by("pk").values_list("pk", flat=True))
                if queued:
                    message_send(message_id=queued[arg % len(queued)], backend=backend)
            elif op == "sweep":
                messages_requeue_stuck()
                messages_reconcile_stuck(backend=backend)
        for pk in Message.objects.filter(status="queued").values_list("pk", flat=True):  # drain
            message_send(message_id=pk, backend=backend)

        assert all(granted for _, granted in backend.calls), backend.calls
        # At most one confirmation per revocation, by the database's unique key.
        confirmed = list(Message.objects.exclude(confirms_event=None).values_list("confirms_event", flat=True))
        assert len(confirmed) == len(set(confirmed))
        sent = Message.objects.filter(status="sent").count()
        assert sent == len(backend.calls)  # every call is one sent row, and the reverse
        # Nothing is lost: every text was sent or refused with a reason.
        for message in Message.objects.exclude(status="sent"):
            assert message.status == "failed" and message.error_code in {"no_consent", "opted_out"}
        transaction.set_rollback(True)
