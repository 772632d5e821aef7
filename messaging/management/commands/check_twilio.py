"""``manage.py check_twilio``: does Twilio send our senders' incoming texts (and STOPs) to us?"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from interactions.models import Organization
from messaging.backends.twilio_setup import SetupUnreadable
from messaging.selectors.provider_setup import inbound_webhook_url, twilio_setup_findings


class Command(BaseCommand):
    help = (
        "Compare each facility sender number's and messaging service's incoming-message webhook in Twilio "
        "with what Textdesk expects (read through the Twilio API; changes nothing). Exits 1 on a problem."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--organization", help="only this organization's senders (its slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        organization = None
        if options["organization"]:
            organization = Organization.objects.filter(slug=options["organization"]).first()
            if organization is None:
                raise CommandError(f"no organization with slug {options['organization']!r}")
        try:
            findings = twilio_setup_findings(organization=organization)
        except SetupUnreadable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Textdesk expects incoming texts at {inbound_webhook_url()} (HTTP POST).")
        if not findings:
            self.stdout.write("No sender numbers or messaging services are set up in admin.")
        for finding in findings:
            if finding.ok:
                self.stdout.write(f"  ok       {finding.subject}")
            else:
                self.stdout.write(f"  PROBLEM  {finding.subject} {finding.problem}.\n           Fix: {finding.fix}")
        problems = sum(not f.ok for f in findings)
        if problems:
            raise CommandError(f"{problems} of {len(findings)} senders are not set up to reach Textdesk")
        self.stdout.write(self.style.SUCCESS(f"All {len(findings)} senders reach Textdesk."))
