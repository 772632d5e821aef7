"""Production settings plus the benchmark-only baseline endpoint (``/bench/baseline/``).

Everything comes from ``config.settings`` (so from the environment the harness sets: DEBUG=0,
PostgreSQL, the Redis broker, CONN_MAX_AGE); only the URLconf differs, so production URLs never
carry the baseline.
"""

from __future__ import annotations

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
