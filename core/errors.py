"""The one error type services raise; views turn it into a form error, the API into a 4xx."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal a person can act on.

    ``code`` is stable and machine-readable (``no_consent``, ``opted_out``, ``quiet_hours``…),
    ``message`` is the sentence shown to the agent or integrator, ``field`` names the input at
    fault when there is one, and ``extra`` carries details such as ``next_allowed_at``.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int = 400, **extra: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "detail": self.message}
        if self.field:
            data["field"] = self.field
        for key, value in self.extra.items():
            data[key] = value.isoformat() if hasattr(value, "isoformat") else value
        return data
