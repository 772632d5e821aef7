"""Webhooks benchmark: signed Twilio status callbacks and inbound texts under gunicorn.

    python -m bench.webhooks [--runs 3] [--duration 10] [--classes sync,gthread,production]

Production settings, the benchmark database, a private Redis. The requests are precomputed
and signed as Twilio signs them (``RequestValidator.compute_signature`` over PUBLIC_BASE_URL +
path and the form fields); wrk posts them through bench/lua/post_signed.lua.

- status: ``delivered`` callbacks for sent texts, a fresh file of distinct texts per run (wrk
  goes round the file, so later rounds are Twilio's repeated callbacks: a locked read, no write).
- inbound: plain texts from the bench people to a facility number, a fresh MessageSid per line
  and per run (each stored once, with a History entry on the lead).

Server shapes (``--classes``): ``sync`` (×4 processes), ``gthread`` (2 processes × 8 threads) and
``production``: what docker-compose.yml's ``web`` runs, ``-c config/gunicorn.conf.py`` (gthread 2×8 since
``make bench-gunicorn``, 3×4 before; its JSON access log, a pool of ``threads`` database connections
per process, the webhook latency histogram in multiprocess mode).
"""

from __future__ import annotations

import argparse
import secrets
from urllib.parse import urlencode

from . import harness as h

TARGET_P99_MS = 50.0
AUTH_TOKEN = "bench-webhook-auth-token"
ACCOUNT_SID = "AC" + "c" * 32


def _status_file(org, *, base: str, count: int, tag: str):
    """``count`` sent texts with provider SIDs, and a signed ``delivered`` callback for each."""
    from django.utils import timezone
    from twilio.request_validator import RequestValidator

    from messaging.models import Message

    now = timezone.now()
    phones = list(zip(org.phone_ids, org.numbers, strict=True))
    sids = [f"SM{tag}{secrets.token_hex(14)}"[:34] for _ in range(count)]
    Message.objects.bulk_create(
        [
            Message(
                organization=org.organization,
                phone_number_id=phones[i % len(phones)][0],
                to_number=phones[i % len(phones)][1],
                from_number=org.senders[0],
                body=f"Bench text {tag} {i}",
                status=Message.Status.SENT,
                provider_sid=sid,
                sent_at=now,
            )
            for i, sid in enumerate(sids)
        ],
        batch_size=1000,
    )
    validator = RequestValidator(AUTH_TOKEN)
    path = "/webhooks/twilio/status/"
    lines = []
    for i, sid in enumerate(sids):
        params = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
            "From": org.senders[0],
            "To": phones[i % len(phones)][1],
        }
        lines.append((path, params, validator.compute_signature(base + path, params)))
    return lines


def _inbound_file(org, *, base: str, count: int, tag: str):
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    path = "/webhooks/twilio/inbound/"
    lines = []
    for i in range(count):
        sid = f"SM{tag}{secrets.token_hex(14)}"[:34]
        params = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "From": org.numbers[i % len(org.numbers)],
            "To": org.senders[0],
            "Body": f"Hi, is a 10x10 unit still free this weekend? ({i})",
            "NumMedia": "0",
            "NumSegments": "1",
        }
        lines.append((path, params, validator.compute_signature(base + path, params)))
    return lines


def _write(lines, name: str) -> str:
    h.OUT.mkdir(exist_ok=True)
    target = h.OUT / name
    target.write_text("".join(f"{path}\t{urlencode(params)}\t{signature}\n" for path, params, signature in lines))
    return str(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--connections", type=int, default=16, help="saturation: requests/s")
    parser.add_argument("--light-connections", type=int, default=2, help="light load: latency")
    parser.add_argument("--lines", type=int, default=6000, help="distinct signed requests per file")
    parser.add_argument("--classes", default="sync,gthread,production")
    parser.add_argument("--sync-workers", type=int, default=4)
    parser.add_argument("--gthread-workers", type=int, default=2)
    parser.add_argument("--gthread-threads", type=int, default=8)
    parser.add_argument("--production-workers", type=int, default=2, help="config/gunicorn.conf.py: workers")
    parser.add_argument("--production-threads", type=int, default=8, help="config/gunicorn.conf.py: threads")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    started = h.machine()
    redis_port, web_port = h.free_port(), h.free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = h.production_env(
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        public_base_url=base,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        SMS_BACKEND="twilio",
    )
    h.django_setup(env)
    from .data import bench_org_create

    with h.step("preparing the benchmark database"):
        h.database_prepare()
        org = bench_org_create(people=500)
    h.ensure_wrk()

    kinds = [("status callback", _status_file), ("inbound text", _inbound_file)]
    rows, notes, raw = [], [], []
    figures: dict[str, dict] = {}  # bench/out/webhooks.json, for bench/summary.py
    with h.redis_start(redis_port, name="redis-webhooks"):
        for worker_class in args.classes.split(","):
            server_env = env
            if worker_class == "sync":
                shape, label = dict(workers=args.sync_workers), f"sync ×{args.sync_workers}"
            elif worker_class == "production":
                workers, threads = args.production_workers, args.production_threads
                shape = dict(worker_class="gthread", workers=workers, threads=threads, config="config/gunicorn.conf.py")
                label = f"gthread {workers}×{threads} (production)"
                # docker-compose.yml: DB_POOL_MAX_SIZE = --threads, JSON logs, multiprocess metrics
                # (the conf file empties the directory at start: one under bench/out, git-ignored).
                server_env = {
                    **env,
                    "DB_POOL_MAX_SIZE": str(threads),
                    "LOG_FORMAT": "json",
                    "PROMETHEUS_MULTIPROC_DIR": str(h.OUT / "prometheus-webhooks"),
                }
            else:
                shape = dict(workers=args.gthread_workers, threads=args.gthread_threads)
                label = f"gthread {args.gthread_workers}×{args.gthread_threads}"
            results: dict[str, list[h.WrkResult]] = {name: [] for name, _ in kinds}
            light_results: dict[str, list[h.WrkResult]] = {name: [] for name, _ in kinds}
            with h.step(f"gunicorn {label}"):
                server = h.gunicorn_start(web_port, env=server_env, **{"worker_class": worker_class, **shape})
                try:
                    for _name, make in kinds:  # warm-up
                        lines = make(org, base=base, count=200, tag=f"w{worker_class[:2]}")
                        h.wrk(base + "/", script="post_signed.lua", args=[_write(lines, "warmup.tsv")],
                              duration=args.warmup, connections=args.connections)  # fmt: skip
                    for i in range(args.runs):
                        for name, make in kinds:
                            tag = f"{worker_class[:2]}{i}{name[0]}"
                            lines = make(org, base=base, count=args.lines, tag=tag)
                            h.vacuum_as_autovacuum_would()
                            result = h.wrk(
                                base + "/",
                                script="post_signed.lua",
                                args=[_write(lines, f"{tag}.tsv")],
                                duration=args.duration,
                                connections=args.connections,
                            )
                            results[name].append(result)
                            print(f"  run {i + 1} {name}: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                                  f"p99 {result.p99_ms:.1f} ms, errors {result.errors}", flush=True)  # fmt: skip
                            light = h.wrk(
                                base + "/",
                                script="post_signed.lua",
                                args=[_write(make(org, base=base, count=args.lines // 2, tag=tag + "l"), "light.tsv")],
                                duration=args.duration / 2,
                                threads=1,
                                connections=args.light_connections,
                            )
                            light_results[name].append(light)
                            print(f"  run {i + 1} {name}, {args.light_connections} connections: {light.rps:.0f} req/s, "
                                  f"p99 {light.p99_ms:.1f} ms", flush=True)  # fmt: skip
                finally:
                    server.stop()
            for name, _ in kinds:
                runs, light = results[name], light_results[name]
                p99, light_p99 = h.median(r.p99_ms for r in runs), h.median(r.p99_ms for r in light)
                figures.setdefault(label, {})[name.split()[0]] = {  # "status" | "inbound"
                    "p99_ms": p99, "rps": h.median(r.rps for r in runs), "light_p99_ms": light_p99
                }  # fmt: skip
                rows.append(
                    [
                        label,
                        name,
                        f"{h.median(r.rps for r in runs):.0f}",
                        f"{h.median(r.p50_ms for r in runs):.1f}",
                        f"{p99:.1f}",
                        f"{h.median(r.rps for r in light):.0f}",
                        f"{light_p99:.1f}",
                        sum(r.errors for r in runs + light),
                    ]
                )

                def verdict(value: float) -> str:
                    return "meets" if value < TARGET_P99_MS else f"misses by {value - TARGET_P99_MS:.0f} ms"

                notes.append(
                    f"- {label}, {name}: p99 {light_p99:.0f} ms at {args.light_connections} connections "
                    f"({verdict(light_p99)} the target, < {TARGET_P99_MS:.0f} ms); at saturation with "
                    f"{args.connections} connections p99 {p99:.0f} ms ({verdict(p99)})."
                )
                samples = "; ".join(s for r in runs for s in r.samples)[:300]
                raw.append(
                    f"- {label}, {name}: "
                    + ", ".join(f"{r.rps:.0f} req/s p99 {r.p99_ms:.0f} ms" for r in runs)
                    + (f" (errors: {samples})" if samples else "")
                )

    body = "\n".join(
        [
            h.table(
                [
                    "gunicorn",
                    "webhook",
                    f"req/s (c{args.connections})",
                    "p50 ms",
                    "p99 ms",
                    f"req/s (c{args.light_connections})",
                    f"p99 ms (c{args.light_connections})",
                    "errors",
                ],
                rows,
            ),
            "",
            *notes,
            f"- {args.connections} connections; every request signed (X-Twilio-Signature checked); status: "
            f"{args.lines:,} distinct delivered callbacks per run, repeated as wrk goes round; inbound: "
            f"{args.lines:,} distinct texts per run, each stored with a History entry.",
            "",
            "Each run (req/s, p99):",
            *raw,
        ]
    )
    print()
    print(body)
    h.figures_write("webhooks", {"classes": figures, "connections": args.connections, "runs": args.runs})
    if not args.no_write:
        h.results_write(
            "webhooks",
            title="Webhooks",
            command=f"make bench-webhooks  # wrk -t2 -c{args.connections} -d{args.duration:g}s --latency, "
            f"{args.runs} runs; medians",
            body=body,
            started=started,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
