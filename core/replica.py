"""Reads that may lag, served by a PostgreSQL streaming replica (docs/SCALE.md "A read replica").

With ``DATABASE_REPLICA_URL`` set, ``DATABASES["replica"]`` exists and ``config.db_router`` sends a
read there only when all of these hold:

- the code reading said it may lag: inside ``replica_ok()`` (a context manager, or a decorator on a
  selector: ``@replica_ok()``). Only a few reads are marked: the inbox and its unread count, the
  home and inbox searches, API lists, exports and the metrics scrape. Everything else (cards, the
  send, webhooks, the admin, tasks) reads the primary;
- the request is not pinned to the primary: the caller (a browser session, or an API key) wrote
  within the last ``READ_YOUR_WRITES_SECONDS`` (``config.middleware.ReadYourWritesMiddleware``
  remembers it), so an agent sees what they just did;
- no transaction is open on the primary: a read inside ``transaction.atomic`` must see the
  transaction's own writes.

Without ``DATABASE_REPLICA_URL`` (``make run``, the tests) every read goes where it always did.

Only documented interfaces: ``contextvars`` (each thread and each request has its own value),
``connections``, and Django's ``execute_wrapper`` to notice a write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

_lag_ok: ContextVar[bool] = ContextVar("textdesk_replica_ok", default=False)
_pinned: ContextVar[bool] = ContextVar("textdesk_pinned_to_primary", default=False)


def configured() -> bool:
    """Whether a replica is configured (``DATABASE_REPLICA_URL``)."""
    return REPLICA in settings.DATABASES


@contextmanager
def replica_ok() -> Iterator[None]:
    """Reads inside may be served by the replica, seconds behind the primary.

    Also a decorator (``@replica_ok()``): each call enters it afresh. Mark a read only when a few
    seconds' lag is harmless to whoever reads it, and evaluate querysets inside (a lazy queryset
    returned out of it is read later, from the primary).
    """
    token = _lag_ok.set(True)
    try:
        yield
    finally:
        _lag_ok.reset(token)


@contextmanager
def primary_pinned(pinned: bool = True) -> Iterator[None]:
    """Every read inside goes to the primary, ``replica_ok()`` or not (read-your-writes)."""
    token = _pinned.set(pinned)
    try:
        yield
    finally:
        _pinned.reset(token)


def read_alias() -> str | None:
    """The database a read goes to now: ``"replica"``, ``"default"``, or ``None`` (no replica configured)."""
    return lagging_read_alias() if configured() else None


def lagging_read_alias() -> str:
    """With a replica configured: ``"replica"`` inside ``replica_ok()``, unless pinned or in a transaction."""
    if not _lag_ok.get() or _pinned.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA


# A statement that changes rows: INSERT, UPDATE, DELETE or MERGE, alone or in a WITH (core/fastsql.py
# writes ``WITH … INSERT … RETURNING``). ``SELECT … FOR UPDATE`` is a read.
_WRITE = re.compile(
    r'^\s*(?:INSERT|UPDATE|DELETE|MERGE)\b|\bINSERT\s+INTO\b|\bDELETE\s+FROM\b|\bUPDATE\s+"?[\w.]+"?\s+SET\b',
    re.IGNORECASE,
)


def is_write(sql: str) -> bool:
    """Whether ``sql`` changes rows (a read-your-writes pin follows it)."""
    return bool(_WRITE.search(sql))


class WriteWatch:
    """Notices whether the primary was written to while it is installed (``execute_wrapper``)."""

    def __init__(self) -> None:
        self.wrote = False

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict) -> Any:
        if not self.wrote and is_write(sql):
            self.wrote = True
        return execute(sql, params, many, context)


@contextmanager
def writes_watched() -> Iterator[WriteWatch]:
    """``with writes_watched() as watch: …``; afterwards ``watch.wrote`` says whether the primary was written."""
    watch = WriteWatch()
    with connections[DEFAULT_DB_ALIAS].execute_wrapper(watch):
        yield watch
