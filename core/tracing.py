"""The request id: one value that follows a text from the click or API call that queued it,
through its Celery task, to the provider's SID and every status callback.

- ``RequestIdMiddleware`` takes ``X-Request-ID`` when the caller (the proxy, an integrator) sent
  a sane one, else makes one, keeps it in a context variable for the request and returns it in
  the response's ``X-Request-ID`` header.
- ``RequestIdLogFilter`` stamps it on every log record (``request_id``), so the JSON log lines of
  a request can be found with one search.
- ``message_queue`` stores it on the ``Message`` row, and the send task and the status callbacks
  bind the row's id again (``request_id_bound``): a text sent by a retry, a sweeper or a worker
  on another host still logs the id of the request that asked for it.
- Celery tasks carry it in a message header (``task_publish_add_request_id``), so any task
  queued during a request logs under the same id; a task started by beat gets its own.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, cast

from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from .http import TextdeskRequest

HEADER = "X-Request-ID"
CELERY_HEADER = "request_id"
# Letters, digits and a few separators, at most 64: what proxies and tracing tools send, and
# nothing that could forge a log line or fill a column.
_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,64}$")

_request_id: ContextVar[str] = ContextVar("request_id", default="")


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_clean(value: str | None) -> str:
    """``value`` when it is a sane request id, else ``""``."""
    value = (value or "").strip()
    return value if _SANE.match(value) else ""


def current_request_id() -> str:
    """The request id of the request or task running in this context ('' outside any)."""
    return _request_id.get()


@contextlib.contextmanager
def request_id_bound(value: str) -> Iterator[str]:
    """Log under ``value`` inside the block (nothing changes for an empty ``value``)."""
    if not value:
        yield current_request_id()
        return
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


class RequestIdMiddleware:
    """Binds the request id for the request and answers it in ``X-Request-ID``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        value = request_id_clean(request.headers.get(HEADER)) or request_id_new()
        cast("TextdeskRequest", request).request_id = value
        with request_id_bound(value):
            response = self.get_response(request)
        response[HEADER] = value
        return response


class RequestIdLogFilter(logging.Filter):
    """Adds ``request_id`` to every record ('-' outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = current_request_id() or "-"
        return True


# --- Celery (connected in config/celery.py) -------------------------------------------------

_task_tokens: dict[str, Token[str]] = {}


def task_publish_add_request_id(headers: dict | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: a task queued inside a request or task carries its id."""
    value = current_request_id()
    if headers is not None and value and not headers.get(CELERY_HEADER):
        headers[CELERY_HEADER] = value


def task_bind_request_id(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    """``task_prerun``: log the task under its publisher's request id, or a new one (a beat task)."""
    if task is None or task_id is None or getattr(task.request, "is_eager", False):
        return  # an eager task runs inside its caller and keeps the caller's id
    value = request_id_clean(getattr(task.request, CELERY_HEADER, None)) or request_id_new()
    _task_tokens[task_id] = _request_id.set(value)


def task_unbind_request_id(task_id: str | None = None, **kwargs: Any) -> None:
    """``task_postrun``: forget the task's request id."""
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        with contextlib.suppress(ValueError):  # set in another context (should not happen)
            _request_id.reset(token)
