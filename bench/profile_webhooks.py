"""Where a Twilio webhook spends its time: SQL queries per request, CPU per request, a profile.

    python -m bench.profile_webhooks [--kind status|repeat|inbound|stop] [--requests 400] [--cprofile]

In-process (the WSGI application gunicorn runs, called as gunicorn calls it: the whole middleware
stack, the connection pool's checkout and return on each request), production settings, the
benchmark database, a private Redis broker; every request signed as Twilio signs it (the same
files as bench/webhooks.py). ``status``: a ``delivered`` callback for a sent text; ``repeat``: the
same callback again (Twilio's retries); ``inbound``: a plain text to the facility number;
``stop``: a STOP keyword (consent revoked, the confirmation text queued), alternating with START;
``refused``: an inbound text with a wrong signature (403: the middleware and the signature check only).
Writes the HTML profile to bench/out/.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from urllib.parse import urlencode

from . import harness as h
from .webhooks import ACCOUNT_SID, AUTH_TOKEN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["status", "repeat", "inbound", "stop", "refused"], default="inbound")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3, help="unprofiled rounds; the median is printed")
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile's top functions")
    parser.add_argument("--no-pyinstrument", action="store_true")
    args = parser.parse_args(argv)

    redis_port = h.free_port()
    base = "http://127.0.0.1:8000"
    env = h.production_env(
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        public_base_url=base,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        SMS_BACKEND="twilio",
    )
    h.django_setup(env)
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from twilio.request_validator import RequestValidator

    from .data import bench_org_create
    from .webhooks import _inbound_file, _status_file

    h.database_prepare()
    org = bench_org_create(people=500)
    client = Client(HTTP_HOST="127.0.0.1")  # the "repeat" kind's first round
    application = get_wsgi_application()
    validator = RequestValidator(AUTH_TOKEN)
    total = 20 + 1 + args.requests * (args.rounds + 2)

    if args.kind in ("status", "repeat"):
        lines = _status_file(org, base=base, count=total, tag="p")
        if args.kind == "repeat":  # every callback once, so each measured one is a repeat
            for path, params, signature in lines:
                client.post(
                    path,
                    urlencode(params),
                    content_type="application/x-www-form-urlencoded",
                    HTTP_X_TWILIO_SIGNATURE=signature,
                )
    elif args.kind == "inbound":
        lines = _inbound_file(org, base=base, count=total, tag="p")
    elif args.kind == "refused":
        import logging

        logging.disable(logging.WARNING)  # the two warnings each refusal logs are not the floor
        lines = [
            (path, params, ("B" if signature[0] == "A" else "A") + signature[1:])
            for path, params, signature in _inbound_file(org, base=base, count=total, tag="p")
        ]
    else:
        lines = []
        for i, (path, params, _) in enumerate(_inbound_file(org, base=base, count=total, tag="p")):
            params = {**params, "Body": "STOP" if (i // len(org.numbers)) % 2 == 0 else "START"}
            lines.append((path, params, validator.compute_signature(base + path, params)))
    position = iter([(path, urlencode(params).encode(), signature) for path, params, signature in lines])

    def one():
        path, body, signature = next(position)
        environ = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_TWILIO_SIGNATURE": signature,
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        status = []
        response = application(environ, lambda s, headers, exc_info=None: status.append(s))
        try:
            b"".join(response)
        finally:
            response.close()  # request_finished: the connection goes back to the pool, as under gunicorn
        assert status[0].startswith("403" if args.kind == "refused" else "200"), (status, path)

    with h.redis_start(redis_port, name="redis-profile-webhooks"):
        for _ in range(20):  # warm-up
            one()
        with CaptureQueriesContext(connection) as queries, h.QueryCounter(connection) as counted:
            one()
        print(f"{args.kind}: SQL queries per request: {counted.count}")
        for q in queries.captured_queries:
            print(f"  {q['time']}s  {q['sql'][:200]}")
        cpus = []
        for _ in range(args.rounds):
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.requests):
                one()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            cpus.append(cpu / args.requests * 1000)
            print(f"  unprofiled: {elapsed / args.requests * 1000:.2f} ms wall, {cpus[-1]:.2f} ms CPU per request")
        print(f"{args.kind}: median CPU per request {h.median(cpus):.2f} ms ({args.rounds} rounds of {args.requests})")

        def all_requests() -> None:
            for _ in range(args.requests):
                one()

        if not args.no_pyinstrument:
            h.pyinstrument_profile(all_requests, name=f"profile-webhook-{args.kind}")
        if args.cprofile:
            h.cprofile_report(all_requests, name=f"profile-webhook-{args.kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
