"""Every write of the messaging side, in ten parts, one module each:

- ``compose``: the final text of a message (merge fields, the unsubscribe link, length) and
  ``message_queue``, which refuses or writes the outbox row;
- ``sending``: what the worker does with a queued row (claim, re-check, throttle, provider call)
  and the sweepers that keep the outbox moving;
- ``inbound``: what Twilio tells us: delivery receipts (``message_status_update``) and incoming
  texts with their keywords (``inbound_receive``), and a reply simulated for a demo (``inbound_simulate``);
- ``numbers``: what the system learns about a number (line type lookups, carrier errors);
- ``confirmation``: the one text confirming a person's opt-out (FCC 24-24);
- ``conversations``: a person's conversation summary kept with each text (``conversation_touch``), read,
  marked unread, done or snoozed, assigned, and a flagged reply resolved;
- ``unsubscribe``: a person using their ``/u/<token>`` link;
- ``templates``: writing message templates;
- ``media``: pictures (MMS): checked by content, stored without metadata, attached to texts;
- ``retention``: texts past ``MESSAGE_RETENTION_DAYS`` exported to a file, then deleted.

A new part gets its line here (``tests/test_architecture.py`` checks the list and its count).

Import from here: ``from messaging.services import message_queue``. The reads are in ``messaging.selectors``.
"""

from __future__ import annotations

from .compose import (
    LINK_PREFIX,
    Draft,
    consent_refusal,
    message_preview,
    message_queue,
    message_resend_without_media,
    sendability_refusal,
    template_body_for,
    template_preview,
    template_sample_person,
    unsubscribe_link_get_or_create,
    with_link,
)
from .confirmation import confirmation_refusal, confirmation_wanted, opt_out_confirmation_queue
from .conversations import (
    conversation_assign,
    conversation_done,
    conversation_flag_refresh,
    conversation_flags_after_opt_out,
    conversation_mark_read,
    conversation_mark_unread,
    conversation_note_add,
    conversation_presence,
    conversation_reopen,
    conversation_snooze,
    conversation_summary_rebuild,
    conversation_touch,
    reply_flag_dismiss,
)
from .inbound import SIMULATED_SID_PREFIX, InboundResult, inbound_receive, inbound_simulate, message_status_update
from .media import (
    MAX_BYTES_PER_MESSAGE,
    MAX_PICTURES_PER_MESSAGE,
    inbound_media_fetch,
    media_check,
    media_create,
    media_for_message,
    message_media,
    message_media_attach,
)
from .numbers import (
    carrier_error_act,
    carrier_opt_out_record,
    line_type_is_stale,
    line_type_lookup,
    line_type_refresh_before_text,
    line_types_lookup_pending,
)
from .retention import messages_retention_purge
from .sending import (
    LAST_LOOK_AFTER_SECONDS,
    RECONCILE_FOR,
    SendOutcome,
    message_cancel,
    message_claim,
    message_reconcile,
    message_send,
    messages_reconcile_stuck,
    messages_release_scheduled,
    messages_requeue_stuck,
    sending_stuck_after,
)
from .templates import (
    template_archive,
    template_create,
    template_picture_set,
    template_update,
    templates_flag_clear,
)
from .unsubscribe import UnsubscribeOutcome, unsubscribe_link_use

__all__ = [
    "LAST_LOOK_AFTER_SECONDS",
    "LINK_PREFIX",
    "MAX_BYTES_PER_MESSAGE",
    "MAX_PICTURES_PER_MESSAGE",
    "RECONCILE_FOR",
    "SIMULATED_SID_PREFIX",
    "Draft",
    "InboundResult",
    "SendOutcome",
    "UnsubscribeOutcome",
    "carrier_error_act",
    "carrier_opt_out_record",
    "confirmation_refusal",
    "confirmation_wanted",
    "consent_refusal",
    "conversation_assign",
    "conversation_done",
    "conversation_flag_refresh",
    "conversation_flags_after_opt_out",
    "conversation_mark_read",
    "conversation_mark_unread",
    "conversation_note_add",
    "conversation_presence",
    "conversation_reopen",
    "conversation_snooze",
    "conversation_summary_rebuild",
    "conversation_touch",
    "inbound_media_fetch",
    "inbound_receive",
    "inbound_simulate",
    "line_type_is_stale",
    "line_type_lookup",
    "line_type_refresh_before_text",
    "line_types_lookup_pending",
    "media_check",
    "media_create",
    "media_for_message",
    "message_cancel",
    "message_claim",
    "message_media",
    "message_media_attach",
    "message_preview",
    "message_queue",
    "message_reconcile",
    "message_resend_without_media",
    "message_send",
    "message_status_update",
    "messages_reconcile_stuck",
    "messages_release_scheduled",
    "messages_requeue_stuck",
    "messages_retention_purge",
    "opt_out_confirmation_queue",
    "reply_flag_dismiss",
    "sendability_refusal",
    "sending_stuck_after",
    "template_archive",
    "template_body_for",
    "template_create",
    "template_picture_set",
    "template_preview",
    "template_sample_person",
    "template_update",
    "templates_flag_clear",
    "unsubscribe_link_get_or_create",
    "unsubscribe_link_use",
    "with_link",
]
