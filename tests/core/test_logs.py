"""Log lines a shipper can read: zoned ISO times everywhere, gunicorn's access line as fields."""

from __future__ import annotations

import json
import logging
import re

from django.conf import settings

from core.logs import AccessLogFields, JsonLogFormatter, ZonedTimeFormatter

ZONED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def _record(msg: str = "hello", args=None) -> logging.LogRecord:
    record = logging.LogRecord("textdesk", logging.INFO, __file__, 1, msg, args, None)
    record.created = 1796618195.123  # 2026-12-07 04:36:35.123 UTC
    record.request_id = "r-1"
    return record


def test_both_formats_the_app_ships_name_the_zone():
    for name in ("plain", "json"):
        assert settings.LOGGING["formatters"][name]["()"].startswith("core.logs."), name

    plain = ZonedTimeFormatter("%(asctime)s %(message)s").format(_record())
    line = json.loads(JsonLogFormatter("%(asctime)s %(message)s", rename_fields={"asctime": "time"}).format(_record()))

    assert plain == "2026-12-07T04:36:35.123+00:00 hello"
    assert ZONED.fullmatch(line["time"]) and line["time"] == "2026-12-07T04:36:35.123+00:00"


def test_gunicorn_access_atoms_become_fields():
    atoms = {
        "r": "POST /api/v1/messages/ HTTP/1.0",
        "{x-request-id}o": "abc123",
        "m": "POST",
        "U": "/api/v1/messages/",
        "s": "201",
        "M": "38",
        "B": "-",
        "h": "10.0.0.7",
    }
    record = _record('%(h)s "%(r)s" %(s)s', atoms)

    assert AccessLogFields().filter(record)
    line = json.loads(JsonLogFormatter("%(asctime)s %(message)s").format(record))

    assert (line["request_id"], line["method"], line["path"]) == ("abc123", "POST", "/api/v1/messages/")
    assert (line["status"], line["duration_ms"], line["bytes"], line["client"]) == (201, 38, None, "10.0.0.7")
