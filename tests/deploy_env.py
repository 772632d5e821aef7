"""The database a real ``manage.py check --deploy`` in the tests may connect to.

Django 6.1's system checks read the PostgreSQL server's version (``GeneratedField``'s check asks
whether the server has virtual generated columns), so a deploy check run against a URL nobody
answers fails on the connection, not on the settings it is there to judge. The tests give it the
suite's own PostgreSQL server, which ``tests.preflight`` and ``.ci/run`` make sure is up, through
its maintenance database ``postgres`` (the suite's own database may not exist yet). Django 5.2
never connects for these checks.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

SERVER_DEFAULT = "postgres://postgres@127.0.0.1:5432/postgres"  # tests.preflight's default server


def check_database_url() -> str:
    """The suite's PostgreSQL server (``DATABASE_URL`` when it names one), database ``postgres``."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return SERVER_DEFAULT  # the embedded configuration: SQLite for the suite, PostgreSQL still running
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))
