"""Fail fast, naming what is unreachable, before the suite starts (``make test`` runs this)."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

DEFAULTS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/textdesk",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def reachable(url: str, default_port: int) -> str | None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return f"{host}:{port} ({exc.strerror or exc})"


def main() -> int:
    problems = []
    for name, default_port in (("DATABASE_URL", 5432), ("REDIS_URL", 6379)):
        url = os.environ.get(name, DEFAULTS[name])
        error = reachable(url, default_port)
        if error:
            problems.append(f"{name}={url} is unreachable at {error}")
    if problems:
        print("make test needs PostgreSQL and Redis:", *problems, sep="\n  ", file=sys.stderr)
        print("Start them (.ci/run does) or point DATABASE_URL / REDIS_URL elsewhere.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
