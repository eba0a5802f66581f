# The whole service in one image; the compose file runs it as api, worker and
# scheduler (docker/start's roles). Built with `docker compose build`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 peermetrics \
 && useradd --system --uid 10001 --gid peermetrics --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin peermetrics

WORKDIR /app

# The dependencies in a layer of their own, rebuilt only when pyproject.toml
# changes: the pinned runtime list, without the project itself.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .

ENV DJANGO_SETTINGS_MODULE=api.settings \
    DEBUG=false \
    DATA_DIR=/data \
    STATIC_ROOT=/app/static \
    INGEST_SPOOL_DIR=/data/spool \
    PROMETHEUS_MULTIPROC_DIR=/run/peermetrics/metrics \
    GRANIAN_HOST=0.0.0.0 \
    GRANIAN_PORT=8000 \
    GRANIAN_WORKERS=2 \
    GRANIAN_BLOCKING_THREADS=2 \
    GRANIAN_BACKLOG=4096 \
    GRANIAN_BACKPRESSURE=4096 \
    GRANIAN_RESPAWN_FAILED_WORKERS=true

# Hashed, compressed static files, served by the app itself (whitenoise).
# Outside /data, so that a new image brings its own files.
RUN docker/start static \
 && mkdir -p /data /run/peermetrics/metrics \
 && chown peermetrics:peermetrics /data /run/peermetrics/metrics

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["docker/start", "healthcheck"]
ENTRYPOINT ["docker/start"]
CMD ["api"]
