"""Merge fields in templates: ``{{ first_name }}`` and friends, validated and rendered."""

from __future__ import annotations

import re
from decimal import Decimal

from django.contrib.auth.models import User

from core.errors import ServiceError
from interactions.models import Customer, Lead

MERGE_FIELDS: dict[str, str] = {
    "first_name": "the person's first name",
    "last_name": "the person's last name",
    "facility_name": "the facility's name",
    "facility_phone": "the facility's phone number",
    "agent_name": "the sending agent's first name",
    "balance_due": "the customer's balance, like $129.00 (leads: $0.00)",
    "unit": "the customer's unit (leads: empty)",
}
_FIELD = re.compile(r"{{\s*([^{}]*?)\s*}}")
_STRAY = re.compile(r"{{|}}|{%|%}")


def template_fields(body: str) -> list[str]:
    return _FIELD.findall(body)


def template_validate(body: str, *, field: str = "body") -> None:
    """Refuse unknown or malformed merge fields, naming them."""
    if not body.strip():
        raise ServiceError("empty_body", "The template has no text.", field=field)
    unknown = [name for name in template_fields(body) if name not in MERGE_FIELDS]
    if unknown:
        listed = ", ".join(f"{{{{ {name} }}}}" for name in unknown)
        raise ServiceError(
            "unknown_merge_field",
            f"Unknown merge field {listed}. Use one of: " + ", ".join(MERGE_FIELDS) + ".",
            field=field,
            fields=unknown,
        )
    if _STRAY.search(_FIELD.sub("", body)):
        raise ServiceError(
            "malformed_merge_field", "A merge field is not closed: write it as {{ first_name }}.", field=field
        )


def merge_context(*, person: Lead | Customer, agent: User | None) -> dict[str, str]:
    balance = person.balance_due if isinstance(person, Customer) else Decimal("0")
    agent_name = ""
    if agent is not None and agent.is_authenticated:
        agent_name = agent.first_name or agent.get_username()
    phone = person.facility.phone
    return {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "facility_name": person.facility.name,
        "facility_phone": phone.as_national if phone else "",
        "agent_name": agent_name,
        "balance_due": f"${balance:,.2f}",
        "unit": getattr(person, "unit", ""),
    }


def render(body: str, context: dict[str, str]) -> str:
    """Fill merge fields; ``template_validate`` has already refused unknown ones."""
    return _FIELD.sub(lambda m: context.get(m.group(1), ""), body)


def merge_field_problem(body: str, *, person: Lead | Customer) -> str:
    """Why a template does not fit this person (a merge field they have no value for), or ``""``.

    A lead has no unit and no balance; a customer who owes nothing gets no balance reminder; a
    blank field would send "your balance for unit at … is $0.00".
    """
    fields = set(template_fields(body))
    if isinstance(person, Lead):
        lacking = [name for name in ("unit", "balance_due") if name in fields]
        if lacking:
            words = " and ".join({"unit": "a unit", "balance_due": "a balance"}[name] for name in lacking)
            return f"Not for leads: it needs {words}."
        return ""
    if "balance_due" in fields and person.balance_due <= 0:
        return f"{person.first_name} owes nothing ($0.00 balance)."
    if "unit" in fields and not person.unit:
        return f"{person.first_name} has no unit on record."
    if "facility_phone" in fields and not person.facility.phone:
        return "The facility has no phone number on record."
    return ""
