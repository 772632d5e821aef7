# One Python everywhere: 3.11 (pyproject requires-python, CI, make). Dependencies come from the
# lock file with hashes, the same one `make` installs from; the project itself without deps.
FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
# .dockerignore leaves the test suite and the benchmarks out: neither runs in production.
RUN test ! -e tests && test ! -e bench
RUN pip install --no-cache-dir --no-deps . \
    && DJANGO_SETTINGS_MODULE=config.settings SECRET_KEY=collectstatic python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 textdesk
USER textdesk
EXPOSE 8000
STOPSIGNAL SIGTERM
CMD ["gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py"]
