"""Log records as the log shipper reads them: zoned ISO 8601 times and the access log's fields.

``config/settings.py`` (the app, workers, beat) and ``config/gunicorn.conf.py`` (gunicorn's
error and access logs) both format with these, so every line of a deployment reads alike.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter


class ZonedTimeFormatter(logging.Formatter):
    """``%(asctime)s`` as ISO 8601 in UTC with milliseconds and the zone: 2026-12-07T04:36:35.123+00:00.

    The stdlib's default (``2026-12-07 04:36:35,123``) names no zone, so lines of hosts in
    different zones, or read after a clock change, can't be ordered.
    """

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonLogFormatter(ZonedTimeFormatter, JsonFormatter):
    """One JSON object a line (python-json-logger), with the zoned time."""


class AccessLogFields(logging.Filter):
    """gunicorn's access line as fields: ``request_id``, ``method``, ``path``, ``status``,
    ``duration_ms``, ``bytes``, ``client`` — so a shipper filters on them instead of parsing text.

    gunicorn logs each request with its atoms dict as the record's ``args`` (``glogging.access``).
    """

    FIELDS = {
        "request_id": "{x-request-id}o",
        "method": "m",
        "path": "U",
        "status": "s",
        "duration_ms": "M",
        "bytes": "B",
        "client": "h",
    }
    NUMBERS = frozenset({"status", "duration_ms", "bytes"})

    def filter(self, record: logging.LogRecord) -> bool:
        atoms: Any = record.args
        if not isinstance(atoms, dict):
            return True
        for field, atom in self.FIELDS.items():
            value = atoms.get(atom, "-")
            if field in self.NUMBERS:
                value = int(value) if str(value).isdigit() else None
            setattr(record, field, value)
        return True
