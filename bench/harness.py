"""What every benchmark shares: the production environment, processes it starts and stops,
wrk and its output, medians, the machine's description and bench/RESULTS.md.

Every process started here is started in a session of its own and stopped by its process id
(its process group) when the benchmark ends, however it ends. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT = BENCH_DIR / "out"  # logs and generated inputs (git-ignored)
RESULTS = BENCH_DIR / "RESULTS.md"
README = ROOT / "README.md"  # its "Where the numbers stand" block is written from RESULTS.md
PYTHON = sys.executable

# A database of its own, never the test database: the benchmarks flush it.
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/textdesk_benchrun")


# --- environment ------------------------------------------------------------------------------


def production_env(*, redis_url: str, public_base_url: str = "http://127.0.0.1:8000", **extra: str) -> dict[str, str]:
    """The environment of a production deployment (DEBUG=0, PostgreSQL, a Redis broker, tasks
    not eager, persistent database connections), pointed at the benchmark's own database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + "k" * 50,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CONN_MAX_AGE": "60",
        # A pool as large as any benchmark process has threads: as many connections as before, kept open.
        "DB_POOL_MAX_SIZE": "64",
        # Loopback over plain http is the point of a benchmark; production refuses it (ops/checks.py).
        "SILENCED_SYSTEM_CHECKS": "textdesk.E002,textdesk.E005",
        # Benchmarks send at any hour: the statutes' windows are lifted (caps still apply; see README).
        "TEXTING_LAW_WINDOWS_OFF_FOR_TESTS": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PUBLIC_BASE_URL": public_base_url,
        # Plain http on loopback: no HTTPS redirect. The token throttle stays on (it is part of the
        # real endpoint's cost) at a rate the benchmark does not reach; per second, so the history
        # it keeps per token stays as short as production's 600/min (a per-minute limit this high
        # would make it pickle tens of thousands of timestamps per request).
        "API_RATE_LIMIT": "100000/s",
        "LOG_LEVEL": "WARNING",
        # No collectstatic in a benchmark: plain static storage (the manifest needs collected files).
        "STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process with ``env`` (call once, before importing models)."""
    os.environ.update(env)
    import django

    django.setup()


def database_prepare() -> None:
    """Create the benchmark database if missing, migrate it and empty it."""
    import psycopg
    from django.core.management import call_command

    name = DATABASE_URL.rsplit("/", 1)[1].split("?")[0]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)


def vacuum_as_autovacuum_would() -> str:
    """``VACUUM (ANALYZE)`` the benchmark database when the server's autovacuum is off; what was done, in words.

    Production runs autovacuum. A server with it off (this machine's CI configuration sets
    ``autovacuum = off``) keeps every dead row version a benchmark's writes leave: the conversation
    summary's row is rewritten by each text, so without this each run would measure a bloated table that
    production never has and the send would slow run after run while the bare endpoint stays put.
    """
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        if conn.execute("SHOW autovacuum").fetchone()[0] == "on":
            return "autovacuum on: left to it"
        conn.execute("VACUUM (ANALYZE)")
    return "autovacuum off on this server: VACUUM (ANALYZE) before each measurement, as autovacuum would keep it"


# --- processes ----------------------------------------------------------------------------------

_RUNNING: list[Process] = []


def _stop_all() -> None:
    for process in reversed(list(_RUNNING)):
        process.stop()


atexit.register(_stop_all)


def _on_signal(signum, frame):  # Ctrl-C or a timeout's SIGTERM: stop what we started, then exit
    _stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


class Process:
    """A child process in its own session (so it and its children are stopped together by pid)."""

    def __init__(self, name: str, args: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        self.name, self.args, self.env = name, list(args), env
        self.log = OUT / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        OUT.mkdir(exist_ok=True)
        with open(self.log, "ab") as log:
            log.write(f"\n--- {datetime.now(UTC):%H:%M:%S} {' '.join(self.args)}\n".encode())
            self.popen = subprocess.Popen(
                self.args, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        _RUNNING.append(self)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)
        with contextlib.suppress(ProcessLookupError):  # children left in the group
            os.killpg(self.pid, signal.SIGKILL)
        if self in _RUNNING:
            _RUNNING.remove(self)
        self.popen = None

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc)."""
        return process_cpu_seconds(self.pid)

    def kill(self) -> None:
        """SIGKILL the process and its group at once (no clean shutdown)."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(5)

    def __enter__(self) -> Process:
        return self.start() if self.popen is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 30.0, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive:
            raise RuntimeError(f"{process.name} exited; see {process.log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def redis_server(port: int, *, name: str = "redis") -> Process:
    """A private redis-server on 127.0.0.1:``port`` (never the machine's shared one), no persistence."""
    return Process(
        name,
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux ``/proc``; clock ticks of 10 ms)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_start(port: int, *, name: str = "redis") -> Process:
    process = redis_server(port, name=name).start()
    wait_for_port(port, process=process)
    return process


def gunicorn(
    port: int, *, env: dict[str, str], worker_class: str, workers: int, threads: int = 1, config: str | None = None
) -> Process:
    """gunicorn on 127.0.0.1:``port``; ``config``: a gunicorn config file (production's
    ``config/gunicorn.conf.py``, with its access log and start checks), read before the options here."""
    args = [
        PYTHON, "-m", "gunicorn", "config.wsgi:application",
        *(["-c", config] if config else []),
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", worker_class,
        "--workers", str(workers),
        "--backlog", "2048",
        "--log-level", "warning",
    ]  # fmt: skip
    if worker_class == "gthread":
        args += ["--threads", str(threads)]
    return Process(f"gunicorn-{worker_class}", args, env=env)


def gunicorn_start(port: int, **kwargs) -> Process:
    process = gunicorn(port, **kwargs).start()
    wait_for_port(port, process=process, timeout=60)
    return process


# --- wrk ----------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The wrk binary (Debian's ``wrk``; installed with apt-get if missing)."""
    import shutil

    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: installing Debian's wrk", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx responses plus socket errors
    samples: list[str] = field(default_factory=list)  # first error bodies


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * _UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    samples = [line for line in output.splitlines() if line.startswith("ERR ")][:3]
    return WrkResult(rps=rps, p50_ms=p50, p99_ms=p99, requests=requests, errors=errors, samples=samples)


def wrk(
    url: str,
    *,
    script: str,
    args: Iterable[str] = (),
    duration: float = 10,
    threads: int = 2,
    connections: int = 16,
) -> WrkResult:
    """Run wrk for ``duration`` seconds against ``url`` (loopback only) and parse its report."""
    assert url.startswith(("http://127.0.0.1:", "http://localhost:")), "benchmarks only target loopback"
    command = [
        ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s",
        "-s", str(BENCH_DIR / "lua" / script), url, "--", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- numbers and tables ---------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0–100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (also readable as plain text in a terminal)."""
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _first_line(command: list[str]) -> str:
    with contextlib.suppress(Exception):
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
        return (done.stdout or done.stderr).strip().splitlines()[0]
    return "?"


def machine() -> str:
    """One line saying what the numbers were measured on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu = found.group(1).strip() if found else platform.processor()
    memory = "?"
    with contextlib.suppress(OSError):
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    postgres = _first_line(["psql", "--version"]).replace("psql (PostgreSQL) ", "PostgreSQL ")
    redis = _first_line(["redis-server", "--version"]).split(" sha=")[0]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; {postgres}; {redis}; load average at start {load}"
    )


HEADER = """# Benchmark results

Written by the benchmark commands (`make bench` runs them all); each section says the machine,
the date and the command that produced it. How to read them: bench/README.md.
"""
ORDER = ["summary", "api", "workers", "card", "webhooks", "gunicorn", "webhook_isolation", "chaos", "scale", "scale2m"]


def results_write(name: str, *, title: str, command: str, body: str, started: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md (other sections are kept).

    Text written by hand goes in a ``<!-- notes:<section> -->`` … ``<!-- /notes:<section> -->`` block: it
    is kept, after its section, whatever runs (a note dates itself; a rerun does not make it current).
    Anything else outside the sections is the benchmarks' own and is written again.
    """
    sections: dict[str, str] = {}
    notes: dict[str, str] = {}
    if RESULTS.exists():
        current = RESULTS.read_text()
        for key, text in re.findall(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", current, re.S):
            sections[key] = text
        notes = dict(re.findall(r"<!-- notes:(\w+) -->\n(.*?)<!-- /notes:\1 -->", current, re.S))
    sections[name] = (
        f"## {title}\n\n"
        f"- Machine: {started}\n"
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- Command: `{command}`\n\n"
        f"{body.strip()}\n\n"
    )
    ordered = [k for k in ORDER if k in sections] + [k for k in sections if k not in ORDER]
    text = HEADER + "".join(
        f"\n<!-- bench:{k} -->\n{sections[k]}<!-- /bench:{k} -->\n"
        + (f"\n<!-- notes:{k} -->\n{notes[k]}<!-- /notes:{k} -->\n" if k in notes else "")
        for k in ordered
    )
    RESULTS.write_text(text)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)} (section '{name}')")
    readme_numbers_write()


# --- the README's figures: one source, bench/RESULTS.md -------------------------------------------

README_BEGIN = "<!-- bench:numbers (written by the benchmarks from bench/RESULTS.md: edit there, never here) -->"
README_END = "<!-- /bench:numbers -->"


def results_sections(text: str) -> dict[str, str]:
    """bench/RESULTS.md's sections by name (``summary``, ``api``…, ``chaos``)."""
    return dict(re.findall(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->", text, re.S))


def readme_numbers(results: str) -> str:
    """The README's "Where the numbers stand" block: RESULTS.md's Summary lines and the fault
    injection's result, word for word, with the dates they were measured."""
    sections = results_sections(results)

    def date(name: str) -> str:
        found = re.search(r"^- Date: (.+)$", sections.get(name, ""), re.M)
        return found.group(1) if found else "not run"

    summary = [
        line
        for line in sections.get("summary", "").splitlines()
        if line.startswith("- ") and not line.startswith(("- Machine:", "- Date:", "- Command:"))
    ]
    chaos = re.search(r"^- Result: (.+)$", sections.get("chaos", ""), re.M)
    lines = [
        README_BEGIN,
        *(summary or ["- No summary yet: run `make bench`."]),
        f"- Fault injection (`make chaos`): {chaos.group(1) if chaos else 'not run yet.'}",
        "",
        f"Copied from [`bench/RESULTS.md`](bench/RESULTS.md) (Summary {date('summary')}, Fault injection "
        f"{date('chaos')}), where each benchmark's tables, machine and command are.",
        README_END,
    ]
    return "\n".join(lines)


def readme_numbers_write() -> None:
    """Write RESULTS.md's figures into the README's marked block (tests/test_bench_summary.py holds the two equal)."""
    text = README.read_text()
    begin, end = text.index(README_BEGIN), text.index(README_END) + len(README_END)
    README.write_text(text[:begin] + readme_numbers(RESULTS.read_text()) + text[end:])


class QueryCounter:
    """Counts SQL statements sent on ``connection`` (across requests, unlike ``connection.queries``,
    which Django empties when a request starts)."""

    def __init__(self, connection) -> None:
        self.connection, self.count = connection, 0
        self.timings: list[tuple[float, str]] = []  # (ms, sql)

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.timings.append(((time.perf_counter() - started) * 1000, sql))

    @property
    def slowest(self) -> tuple[float, str]:
        return max(self.timings, default=(0.0, ""))

    def __enter__(self) -> QueryCounter:
        self._wrapper = self.connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._wrapper.__exit__(*exc)


@contextlib.contextmanager
def step(text: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"… {text}", flush=True)
    yield
    print(f"  done in {time.monotonic() - started:.1f}s", flush=True)


def figures_write(name: str, figures: dict) -> Path:
    """Write a benchmark's headline figures to bench/out/<name>.json, for bench/summary.py."""
    import json

    OUT.mkdir(exist_ok=True)
    target = OUT / f"{name}.json"
    payload = {"benchmark": name, "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", **figures}
    target.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return target


# --- profiles -------------------------------------------------------------------------------------


def pyinstrument_profile(work: Callable[[], object], *, name: str) -> float:
    """Run ``work`` under pyinstrument; print the tree, write ``bench/out/<name>.html``; the wall seconds."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    work()
    profiler.stop()
    elapsed = time.perf_counter() - started
    OUT.mkdir(exist_ok=True)
    html = OUT / f"{name}.html"
    html.write_text(profiler.output_html())
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    print(f"HTML profile: {html}")
    return elapsed


def cprofile_report(
    work: Callable[[], object], *, name: str, timer: Callable[[], float] = time.process_time, top: int = 30
) -> None:
    """Run ``work`` under cProfile counting CPU time (waits on the database do not count); print the
    top functions by own and by cumulative time, and write ``bench/out/<name>.prof`` for pstats'
    callers and callees."""
    import cProfile
    import pstats

    profile = cProfile.Profile(timer)
    profile.enable()
    work()
    profile.disable()
    OUT.mkdir(exist_ok=True)
    profile.dump_stats(OUT / f"{name}.prof")
    stats = pstats.Stats(profile).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top * 2 + 10)
