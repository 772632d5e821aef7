"""Every read of the messaging side, inside one organization, by topic:

- ``conversations``: a person's thread across all their numbers (texts, ledger and workflow events) and its
  fingerprint for the live poll;
- ``inbox``: conversations, unread replies first, and the header's unread count;
- ``inbound``: replies waiting for an agent (``inbound_flagged``: the rule of record for an open stop request),
  texts from unknown numbers, and where an incoming text belongs (``inbound_organization``; a simulated
  reply's ``reply_route``);
- ``texting``: whether a number may be texted: the send's one read of it (``number_send_state``), the home
  list's "Texting now", the panel header;
- ``templates``, ``unsubscribe``, ``failures``: the panel's templates, the ``/u/<token>`` link, the admin's
  failure counts.

Import from here: ``from messaging.selectors import inbound_flagged``. Selectors read; they never write and
never import ``messaging.services`` (an import-linter contract).
"""

from __future__ import annotations

from .conversations import (
    THREAD_LIMIT,
    ThreadItem,
    conversation_state,
    person_numbers,
    person_text_for,
    person_thread,
    reply_phone_id,
    scheduled_texts,
    thread_messages,
    thread_version,
)
from .failures import FAILURE_WORDS, FacilityFailures, failed_texts_by_facility
from .inbound import (
    flagged_reply_for,
    inbound_flagged,
    inbound_linked_record,
    inbound_number,
    inbound_number_holders,
    inbound_organization,
    inbound_unmatched,
    last_texted_number,
    message_by_provider_sid,
    open_requests,
    reply_route,
)
from .inbox import SHOWS as INBOX_SHOWS
from .inbox import InboxRow, UnreadSummary, conversation_summary_of, inbox, inbox_version, unread_summary
from .templates import active_templates_for, template_for
from .texting import SendState, TextingNow, TextingState, number_send_state, texting_now, texting_state
from .unsubscribe import unsubscribe_link_by_token

__all__ = [
    "FAILURE_WORDS",
    "INBOX_SHOWS",
    "THREAD_LIMIT",
    "FacilityFailures",
    "InboxRow",
    "SendState",
    "TextingNow",
    "TextingState",
    "ThreadItem",
    "UnreadSummary",
    "active_templates_for",
    "conversation_state",
    "conversation_summary_of",
    "failed_texts_by_facility",
    "flagged_reply_for",
    "inbound_flagged",
    "inbound_linked_record",
    "inbound_number",
    "inbound_number_holders",
    "inbound_organization",
    "inbound_unmatched",
    "inbox",
    "inbox_version",
    "last_texted_number",
    "message_by_provider_sid",
    "number_send_state",
    "open_requests",
    "person_numbers",
    "person_text_for",
    "person_thread",
    "reply_phone_id",
    "reply_route",
    "scheduled_texts",
    "template_for",
    "texting_now",
    "texting_state",
    "thread_messages",
    "thread_version",
    "unread_summary",
    "unsubscribe_link_by_token",
]
