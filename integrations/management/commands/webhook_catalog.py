"""``manage.py webhook_catalog``: the README's table of webhook events, from the serializers that build them."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.events import catalog_markdown

START, END = "<!-- webhook-catalog: start -->\n", "<!-- webhook-catalog: end -->"


class Command(BaseCommand):
    help = "Print the catalog of webhook events (type, when it fires, data fields); --readme writes it there."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--readme", action="store_true", help="Replace the catalog between the README's markers.")

    def handle(self, *args: Any, readme: bool = False, **options: Any) -> None:
        table = catalog_markdown()
        if not readme:
            self.stdout.write(table, ending="")
            return
        path = Path(settings.BASE_DIR) / "README.md"
        text = path.read_text()
        before, rest = text.split(START, 1)
        _, after = rest.split(END, 1)
        path.write_text(before + START + table + END + after)
        self.stdout.write(f"Wrote the catalog of {table.count(chr(10)) - 2} events to {path}.")
