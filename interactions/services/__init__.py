"""Every write to CRM records, phone numbers, consent and history goes through here, in five parts:

- ``phone_numbers``: numbers on leads and customers (parse, add, relabel, primary, delete, confirm) and what
  a lookup, the carrier or a reply tells about one;
- ``consent``: the consent ledger (grant, revoke) and a number's consent now;
- ``history``: entries on a person's history;
- ``people``: leads and customers (create, update, archive), and ``memberships``: accounts of an organization;
- ``facilities``: a facility's SMS sender (the carrier's flag, the registration).

Import from here: ``from interactions.services import consent_grant``. The reads of cards and lists are
in ``interactions.selectors``; ``ConsentState``, ``consent_state_from_row``, ``Owner`` and ``owner_kwargs``
are named here too, where callers have always found them.
"""

from __future__ import annotations

from ..models import Owner, owner_kwargs
from ..selectors import ConsentState, consent_state_from_row
from .consent import consent_grant, consent_revoke, consent_status
from .facilities import facility_sender_flag, facility_sender_register
from .history import history_entry, history_record, user_display_name
from .memberships import membership_create
from .people import NewNumber, customer_create, customer_update, lead_create, lead_update, person_archive
from .phone_numbers import (
    phone_number_add,
    phone_number_confirm,
    phone_number_delete,
    phone_number_parse,
    phone_number_relabel,
    phone_number_set_primary,
    phone_numbers_confirmed_by_reply,
    phone_numbers_line_type_record,
    phone_numbers_mark_not_textable,
)

__all__ = [
    "ConsentState",
    "NewNumber",
    "Owner",
    "consent_grant",
    "consent_revoke",
    "consent_state_from_row",
    "consent_status",
    "customer_create",
    "customer_update",
    "facility_sender_flag",
    "facility_sender_register",
    "history_entry",
    "history_record",
    "lead_create",
    "lead_update",
    "membership_create",
    "owner_kwargs",
    "person_archive",
    "phone_number_add",
    "phone_number_confirm",
    "phone_number_delete",
    "phone_number_parse",
    "phone_number_relabel",
    "phone_number_set_primary",
    "phone_numbers_confirmed_by_reply",
    "phone_numbers_line_type_record",
    "phone_numbers_mark_not_textable",
    "user_display_name",
]
