"""Project wiring: docker-compose commands, production settings (check --deploy), health probes."""

from __future__ import annotations

import json
import os
import re
import runpy
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from celery.app.utils import find_app
from celery.bin.base import CLIContext
from celery.bin.celery import celery as celery_cli
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import get_commands
from django.urls import resolve
from gunicorn.config import Config as GunicornConfig

from config.celery import app as celery_app
from tests.deploy_env import check_database_url

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = {name: svc for name, svc in COMPOSE["services"].items() if svc.get("build") == "."}


def test_compose_runs_web_worker_beat_and_migrate_from_the_app_image():
    assert set(APP_SERVICES) == {"migrate", "web", "worker", "webhooks", "beat"}
    assert {"postgres", "redis"} <= set(COMPOSE["services"])


def _check_python(command: list[str]) -> None:
    assert command[:2] == ["python", "manage.py"]
    assert (ROOT / "manage.py").is_file()
    assert command[2] in get_commands(), f"manage.py has no command {command[2]}"


def _check_gunicorn(command: list[str]) -> None:
    options = GunicornConfig().parser().parse_args(command[1:])  # exits on an unknown option
    module_name, _, attribute = options.args[0].partition(":")
    module = __import__(module_name, fromlist=[attribute])
    application = getattr(module, attribute or "application")
    assert isinstance(application, WSGIHandler)
    assert module_name + ".application" == settings.WSGI_APPLICATION
    if options.config:
        assert (ROOT / options.config).is_file(), f"no gunicorn config {options.config}"


def _check_celery(command: list[str]) -> None:
    split = next(i for i, token in enumerate(command) if token in celery_cli.commands)
    group = celery_cli.make_context("celery", command[1:split])
    app = find_app(group.params["app"])
    assert app is celery_app
    group.obj = CLIContext(app=app, no_color=True, workdir=None, quiet=True)
    sub = celery_cli.commands[command[split]]
    parsed = sub.make_context(command[split], command[split + 1 :], parent=group)  # raises on a bad option
    assert not parsed.args


CHECKERS = {"python": _check_python, "gunicorn": _check_gunicorn, "celery": _check_celery}


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_each_service_command_points_at_real_modules(service):
    command = APP_SERVICES[service]["command"]

    CHECKERS[command[0]](command)


def test_each_worker_health_check_pings_that_worker_only():
    kind, line = APP_SERVICES["worker"]["healthcheck"]["test"]
    # Compose turns "$$" into "$"; the shell then puts in the container's host name, which is
    # what a worker started without -n calls itself (celery@<hostname>).
    command = shlex.split(line.replace("$$HOSTNAME", "textdesk-worker-2"))

    assert kind == "CMD-SHELL"
    _check_celery(command)
    assert command[command.index("--destination") + 1] == "celery@textdesk-worker-2"
    assert "-n" not in APP_SERVICES["worker"]["command"]


def test_webhooks_run_on_their_own_queue_and_workers_never_on_the_text_workers():
    from django.conf import settings as django_settings

    routes = django_settings.CELERY_TASK_ROUTES
    queue = routes["integrations.tasks.deliver_webhook"]["queue"]
    texts, hooks = APP_SERVICES["worker"]["command"], APP_SERVICES["webhooks"]["command"]

    assert queue == "webhooks"
    assert texts[texts.index("--queues") + 1] == "celery"
    assert hooks[hooks.index("--queues") + 1] == queue
    _, line = APP_SERVICES["webhooks"]["healthcheck"]["test"]
    command = shlex.split(line.replace("$$HOSTNAME", "textdesk-webhooks-1"))
    _check_celery(command)
    assert command[command.index("--destination") + 1] == "webhooks@textdesk-webhooks-1"


def test_web_healthcheck_asks_the_readiness_view():
    probe = " ".join(APP_SERVICES["web"]["healthcheck"]["test"])

    assert "http://127.0.0.1:8000/healthz/ready" in probe
    assert resolve("/healthz/ready").url_name == "healthz_ready"


def test_beat_health_check_reads_the_heartbeat():
    test = APP_SERVICES["beat"]["healthcheck"]["test"]

    assert test[0] == "CMD"
    _check_python(test[1:])
    assert test[3] == "heartbeat"


def test_compose_runs_the_app_in_production_mode():
    env = COMPOSE["x-app"]["environment"]

    assert (env["DEBUG"], env["CELERY_TASK_ALWAYS_EAGER"], env["SMS_BACKEND"]) == ("0", "0", "twilio")
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["TRUSTED_PROXY"] == "1"  # the proxy is the only way in


# --- scale-out: the proxy in front of web -----------------------------------------------------


def test_only_the_proxy_publishes_a_port_so_web_can_be_scaled():
    published = {name for name, service in COMPOSE["services"].items() if service.get("ports")}

    assert published == {"proxy"}
    assert COMPOSE["services"]["proxy"]["image"].startswith("nginx:")
    assert "container_name" not in COMPOSE["services"]["web"]


def test_proxy_config_forwards_to_every_web_replica_with_the_client_scheme_and_address():
    mount = COMPOSE["services"]["proxy"]["volumes"][0]
    config = (ROOT / mount.split(":")[0]).read_text()

    assert "http://web:8000" in config
    assert re.search(r"resolver 127\.0\.0\.11 valid=\d+s", config)  # new replicas are found again
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
        assert f"proxy_set_header {header}" in config
    # Its own scheme, never the client's header; the Host as sent, port included.
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in config
    assert "$http_x_forwarded_proto" not in config
    assert "proxy_set_header Host $http_host;" in config
    assert re.search(r"client_max_body_size \d+m;", config)
    assert "location = /metrics { return 404; }" in config


def _images() -> dict[str, str]:
    services = {name: service.get("image") for name, service in COMPOSE["services"].items()}
    services["Dockerfile"] = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    return {name: image for name, image in services.items() if image and image != "textdesk:latest"}


def test_every_image_is_pinned_to_a_release_not_a_floating_tag():
    images = _images()
    assert {"proxy", "postgres", "redis", "Dockerfile"} <= set(images)
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        # A release: major.minor.patch (PostgreSQL numbers its releases major.minor since 10),
        # with an optional variant such as -alpine or -slim-bookworm; or a digest.
        release = r"\d+\.\d+" if repository == "postgres" else r"\d+\.\d+\.\d+"
        assert "@sha256:" in image or re.fullmatch(release + r"(-[a-z0-9-]+)?", tag), f"{name}: {image}"


def test_every_container_log_rotates():
    for name, service in COMPOSE["services"].items():
        logging = service.get("logging") or {}
        options = logging.get("options", {})
        assert logging.get("driver") == "json-file" and "max-size" in options and "max-file" in options, name


def test_tls_keys_stay_out_of_git():
    assert "proxy/certs/*.pem" in (ROOT / ".gitignore").read_text().split()


def test_stop_grace_periods_outlast_the_longest_send_and_request():
    longest_send = settings.TWILIO_TIMEOUT_SECONDS + settings.SMS_THROTTLE_MAX_WAIT

    def seconds(service: str) -> float:
        return float(APP_SERVICES[service]["stop_grace_period"].removesuffix("s"))

    assert seconds("worker") > longest_send + 10
    gunicorn_conf = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))

    assert seconds("web") > gunicorn_conf["graceful_timeout"] + 5


def test_pool_sizes_match_each_service_threads():
    web, worker = APP_SERVICES["web"], APP_SERVICES["worker"]

    gunicorn_conf = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    threads = web["command"][web["command"].index("--threads") + 1] if "--threads" in web["command"] else None
    threads = threads or str(gunicorn_conf["threads"] if gunicorn_conf["worker_class"] == "gthread" else 1)
    concurrency = worker["command"][worker["command"].index("--concurrency") + 1]
    assert web["environment"]["DB_POOL_MAX_SIZE"] == threads
    assert worker["environment"]["DB_POOL_MAX_SIZE"] == concurrency


# --- reproducible installs --------------------------------------------------------------------


def test_docker_and_make_install_from_the_same_lock_file_on_python_3_11():
    dockerfile = (ROOT / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()

    assert dockerfile.startswith("#") and re.search(r"^FROM python:3\.11\.\d+-slim", dockerfile, re.M)
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--require-hashes -r requirements.lock" in makefile
    assert "--require-hashes -r requirements-dev.lock" in makefile
    assert 'requires-python = ">=3.11,<3.12"' in pyproject
    assert '"Django>=5.2,<5.3"' in pyproject


def test_lock_files_pin_every_package_with_hashes_and_django_on_5_2():
    for name in ("requirements.lock", "requirements-dev.lock"):
        lock = (ROOT / name).read_text()
        pins = re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", lock, flags=re.MULTILINE)

        assert dict(pins)["django"].startswith("5.2."), name
        blocks = re.split(r"^(?=[a-z0-9])", lock, flags=re.MULTILINE)
        unhashed = [b.split("==")[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
        assert not unhashed, f"{name}: no hash for {unhashed}"


def _env_names(path: Path) -> set[str]:
    text = path.read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", text)) | set(
        re.findall(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""", text)
    )


def test_env_example_lists_every_variable_the_app_reads():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), flags=re.MULTILINE))
    read = _env_names(ROOT / "config" / "settings.py") | _env_names(ROOT / "config" / "gunicorn.conf.py")
    read -= {"DJANGO_SETTINGS_MODULE"}

    assert "SECRET_KEY" in read and "DB_POOL_MAX_SIZE" in read  # the scan does find them
    assert read - listed == set()


def test_secrets_stay_out_of_git_and_the_image():
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "db.sqlite3"} <= set(dockerignore)


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore line as Docker reads it: from the context's root, ``*`` within a directory, ``**`` across."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/"))
    wild = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wild.get(part, re.escape(part)) for part in parts))


def _in_build_context(path: str) -> bool:
    """Whether ``docker build .`` sends ``path``: the last pattern matching it or a directory above it decides."""
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in rules if line and not line.startswith("#")]
    steps = path.split("/")
    prefixes = ["/".join(steps[: i + 1]) for i in range(len(steps))]
    sent = True
    for rule in rules:
        pattern = _docker_pattern(rule.removeprefix("!"))
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            sent = rule.startswith("!")
    return sent


def test_the_image_leaves_out_the_tests_the_benchmarks_and_binaries():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    sent = {path for path in tracked if _in_build_context(path)}

    assert any(path.startswith("tests/") for path in tracked) and any(path.startswith("bench/") for path in tracked)
    assert not {path for path in sent if path.startswith(("tests/", "bench/"))}
    # What the image does need: the apps, their templates and static files, and what `pip install .` reads.
    assert {"manage.py", "pyproject.toml", "README.md", "requirements.lock", "config/settings.py"} <= sent
    assert {"messaging/services/__init__.py", "templates/base.html", "static/css/app.css"} <= sent
    assert not any(map(_in_build_context, ["py_spy-0.4.3-py2.py3-none-any.whl", "ops/native/_speedups.so"]))
    assert _in_build_context(".env.example") and not _in_build_context(".env.production")
    # And the Dockerfile refuses to build an image that has them anyway.
    assert "RUN test ! -e tests && test ! -e bench" in (ROOT / "Dockerfile").read_text()


def test_binaries_stay_out_of_git():
    binaries = ["py_spy-0.4.3-py2.py3-none-any.whl", "lib/_speedups.so", "dist/app.tar.gz"]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *binaries], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout.split()

    assert len(ignored) == 3
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not re.findall(r"\.(?:whl|so|tar\.gz|zip|exe)$", tracked, flags=re.MULTILINE)


# --- production settings ------------------------------------------------------------------


def _production_env(**extra: str) -> dict[str, str]:
    """What a deployer puts in .env, plus the compose file's own environment for the app."""
    compose_env = {k: str(v) for k, v in COMPOSE["x-app"]["environment"].items()}
    compose_env["DATABASE_URL"] = check_database_url()  # a server that answers: tests/deploy_env.py
    return {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **compose_env,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "textdesk.example.com",
        "PUBLIC_BASE_URL": "https://textdesk.example.com",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        **extra,
    }


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_a_weak_secret_key():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env(SECRET_KEY="short"))

    assert result.returncode != 0
    assert "security.W009" in result.stderr


_PRINT_SECURITY = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ('DEBUG', 'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', "
    "'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS')}))"
)


def _security_settings(env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_SECURITY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


_PRINT_DATABASE_OPTIONS = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps(s.DATABASES['default']['OPTIONS']))"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", {"server_side_binding": True, "prepare_threshold": 5}), ("0", {})],
)
def test_prepared_statements_are_django_s_and_psycopg_s_switches_and_0_turns_them_off(value, expected):
    """Django's ``server_side_binding`` and psycopg's ``prepare_threshold``, both or neither: with
    DB_PREPARED_STATEMENTS=0 (PgBouncer before 1.21 in transaction mode) Django's defaults stay."""
    env = _production_env(DB_PREPARED_STATEMENTS=value)
    result = subprocess.run(
        [sys.executable, "-c", _PRINT_DATABASE_OPTIONS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout)
    assert {k: options[k] for k in ("server_side_binding", "prepare_threshold") if k in options} == expected
    assert "pool" in options  # the pool is unchanged either way


def test_https_production_redirects_and_secures_cookies_by_default():
    assert _security_settings(_production_env()) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
    }


def test_make_run_settings_stay_plain_http():
    # The environment `make run` sets (Makefile RUN_ENV): DEBUG over http on 127.0.0.1.
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": "sqlite:///db.sqlite3",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "SMS_BACKEND": "console",
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }

    assert _security_settings(env) == {
        "DEBUG": True,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
    }


# --- the habits in the repository and CI ----------------------------------------------------------


def test_ci_lints_before_the_tests_and_make_lint_runs_all_four_checks():
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.M)

    assert ci.index("make lint") < ci.index("make test")
    assert "set -euo pipefail" in ci  # a lint failure stops CI
    assert lint is not None
    assert [line.split()[0] for line in lint.group(1).split("\n") if line.strip()] == [
        "$(BIN)/ruff",
        "$(BIN)/ruff",
        "$(BIN)/lint-imports",
        "$(BIN)/mypy",
    ]


def test_pre_commit_runs_the_pinned_tools_of_the_venv_and_downloads_nothing():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}

    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    assert set(hooks) == {"ruff", "ruff-format", "lint-imports", "mypy"}
    assert all(hook["language"] == "system" and hook["entry"].startswith(".venv/bin/") for hook in hooks.values())
    pins = dict(re.findall(r"^([a-z0-9._-]+)==(\S+) \\$", (ROOT / "requirements-dev.lock").read_text(), re.M))
    assert {"pre-commit", "mypy", "django-stubs", "djangorestframework-stubs", "ruff", "import-linter"} <= set(pins)
