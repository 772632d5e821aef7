from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from interactions.models import Organization
from interactions.pms import import_pms_customers


class Command(BaseCommand):
    help = "Create or update customers and their PMS phone numbers from a CSV export (safe to run again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file",
            type=Path,
            help="CSV with facility, pms_id, first_name, last_name, unit, balance_due, phone, phone_home, phone_work",
        )
        parser.add_argument("--organization", help="slug of the organization (needed when there are several)")

    def handle(self, *args: Any, file: Path, organization: str | None, **options: Any) -> None:
        orgs = Organization.objects.all()
        if organization:
            orgs = orgs.filter(slug=organization)
        if orgs.count() != 1:
            raise CommandError(
                "Name the organization with --organization SLUG (known: "
                + ", ".join(Organization.objects.values_list("slug", flat=True))
                + ")."
            )
        if not file.exists():
            raise CommandError(f"{file} does not exist.")
        try:
            with file.open(newline="", encoding="utf-8-sig") as stream:
                report = import_pms_customers(organization=orgs.get(), stream=stream)
        except UnicodeDecodeError as exc:
            # Rows before the bad byte were imported (one transaction per row); running again is safe.
            raise CommandError(
                f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}). "
                "Export it from the PMS as UTF-8 CSV and run the import again."
            ) from exc
        for line, reason in report.errors:
            self.stderr.write(f"line {line}: {reason}")
        self.stdout.write(
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{len(report.errors)} rejected."
        )
