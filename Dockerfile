FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY interactions ./interactions
COPY messaging ./messaging
COPY templates ./templates
COPY static ./static
COPY manage.py ./
RUN pip install --no-cache-dir . \
    && DJANGO_SETTINGS_MODULE=config.settings SECRET_KEY=collectstatic python manage.py collectstatic --noinput
RUN useradd --system --uid 1000 textdesk
USER textdesk
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4"]
