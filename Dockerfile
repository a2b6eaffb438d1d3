# stadtfunk: a slim image that runs as an unprivileged user. Build: docker build -t stadtfunk .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    LOG_FORMAT=json

WORKDIR /app
# Runtime dependencies only, at exactly the versions in the lock file (which also pins the dev tools).
COPY pyproject.toml requirements.lock README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY broadcasts ./broadcasts
RUN pip install --constraint requirements.lock . \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin stadtfunk \
    && mkdir -p /data && chown stadtfunk:stadtfunk /data

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
# SIGTERM (docker stop) lets in-flight sends settle and hands unsent deliveries back to the queue.
STOPSIGNAL SIGTERM
CMD ["stadtfunk", "run"]
