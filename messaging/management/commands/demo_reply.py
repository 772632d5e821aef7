"""``manage.py demo_reply``: make a person answer on ``make run``, as Twilio's inbound webhook would.

``make run`` sets no Twilio auth token, so the signed webhook refuses every post. This stores the reply
through the same inbound service (``inbound_simulate`` → ``inbound_receive``): STOP, START, HELP and
plain words act as real. With no options, the person texted last answers from the number texted.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core.errors import ServiceError
from core.phonenumbers import readable
from interactions.models import Customer, Lead, Organization, PhoneNumber
from interactions.selectors import owner_numbers, people_search
from interactions.services import phone_number_parse
from messaging.backends import backend_is_paid
from messaging.keywords import Keyword
from messaging.selectors import inbound_linked_record, inbound_number_holders, last_texted_number
from messaging.services import inbound_simulate

DEFAULT_BODY = "Thanks! Yes, that works for me."


class Command(BaseCommand):
    help = (
        "Store a reply from a lead or customer as if Twilio had posted it to the inbound webhook (make run has "
        "no auth token to sign one). STOP, START and HELP act as real. Default: the person texted last answers "
        "from the number texted. Refused with a paid SMS backend: the people there are real."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--to", default="", help="who answers: a phone number or a name (default: last texted)")
        parser.add_argument("--from", dest="from_number", default="", help="which of their numbers writes")
        parser.add_argument("--body", default=DEFAULT_BODY, help=f"what they text (default: “{DEFAULT_BODY}”)")
        parser.add_argument("--organization", default="", help="the organization's slug (default: the one texted last)")

    def handle(self, *args: Any, **options: Any) -> None:
        if backend_is_paid():
            raise CommandError(
                "demo_reply makes up a text from a person: with a paid SMS backend the people are real, and a "
                "made-up STOP or START would stand in their consent ledger. Use it with SMS_BACKEND=console."
            )
        organization = organization_named(options["organization"])
        phone = who_answers(organization, options["to"])
        phone = writing_from(phone, options["from_number"])
        try:
            result = inbound_simulate(phone_number=phone, body=options["body"])
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        message = result.message
        assert message is not None  # inbound_simulate keeps the reply or raises
        self.stdout.write(
            f"{phone.owner.full_name} ({phone.owner.kind} {phone.owner.pk}) replied from {phone.national} "
            f"to {readable(message.to_number) if message.to_number else 'the messaging service'}: “{message.body}” "
            f"(text {message.pk})."
        )
        if result.keyword == Keyword.HELP:
            self.stdout.write(f"Twilio would answer with: “{result.reply}”")
        elif result.keyword is not None:
            self.stdout.write(f"Keyword {result.keyword.upper()}: consent changed as for a real reply.")
        elif message.flagged_opt_out_request:
            self.stdout.write("It reads like a request to stop texting: flagged for an agent.")


def organization_named(slug: str) -> Organization | None:
    """The organization of ``slug``; else the one texted last, else the only one (``None``: ask for it)."""
    if slug:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            raise CommandError(f"no organization with slug {slug!r}")
        return organization
    last = last_texted_number()
    if last is not None:
        return last.organization
    only = list(Organization.objects.order_by("pk")[:2])
    return only[0] if len(only) == 1 else None


def who_answers(organization: Organization | None, who: str) -> PhoneNumber:
    """The number of the person who answers: ``who`` as a number or a name, else the last texted."""
    if organization is None:
        raise CommandError("Which organization? Pass --organization SLUG (nobody has been texted yet).")
    who = who.strip()
    if not who:
        last = last_texted_number(organization=organization)
        if last is None:
            raise CommandError("Nobody has been texted yet: pass --to with a number or a name.")
        return last
    if sum(ch.isdigit() for ch in who) >= 7:
        try:
            number = phone_number_parse(who, field="to")
        except ServiceError as exc:
            raise CommandError(f"--to {who!r}: {exc.message}") from exc
        holders = inbound_number_holders(organization=organization, sender=number)
        found = inbound_linked_record(organization=organization, sender=number, holders=holders)
        if found is None:
            raise CommandError(f"No lead or customer of {organization.name} has {who} (or several do).")
        return found
    return by_name(organization, who)


def by_name(organization: Organization, name: str) -> PhoneNumber:
    people = people_search(organization=organization, query=name, limit=10)
    exact = [p for p in people if p.full_name.lower() == name.lower()]
    people = exact or people
    if len(people) != 1:
        names = ", ".join(f"{p.full_name} ({p.kind} {p.pk})" for p in people) or "nobody"
        raise CommandError(f"--to {name!r} matches {names}: name one person, or give a number.")
    return primary_of(people[0])


def primary_of(person: Lead | Customer) -> PhoneNumber:
    numbers = owner_numbers(owner=person)
    if not numbers:
        raise CommandError(f"{person.full_name} has no phone number.")
    return numbers[0]


def writing_from(phone: PhoneNumber, raw: str) -> PhoneNumber:
    """``raw``, one of the person's own numbers, when given; else ``phone``."""
    if not raw.strip():
        return phone
    try:
        number = phone_number_parse(raw, field="from")
    except ServiceError as exc:
        raise CommandError(f"--from {raw!r}: {exc.message}") from exc
    numbers = owner_numbers(owner=phone.owner)
    chosen = next((n for n in numbers if n.number == number), None)
    if chosen is None:
        theirs = ", ".join(n.national for n in numbers)
        raise CommandError(f"{raw} is not one of {phone.owner.full_name}'s numbers ({theirs}).")
    return chosen
