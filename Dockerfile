# stadtfunk: a slim image that runs as an unprivileged user. Build: docker build -t stadtfunk .
#
# The base image is pinned by its digest: a tag moves whenever upstream rebuilds it. Refresh the pin
# deliberately (monthly, and for every Python or Debian security release), then rebuild and run the tests:
#   docker pull python:3.11-slim
#   docker inspect --format '{{index .RepoDigests 0}}' python:3.11-slim   # -> python@sha256:<digest>
FROM python:3.11-slim@sha256:be1575ed968de893bd54f4c56315ff7c4736ce522c1bca08fd521731aafc0d76

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080 \
    LOG_FORMAT=json

WORKDIR /app
# Runtime dependencies only (requirements-runtime.lock: the pins of requirements.lock without the dev
# tools), each checked against its hash; stadtfunk itself is built offline with the setuptools pinned there.
COPY pyproject.toml requirements-runtime.lock README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY broadcasts ./broadcasts
COPY city ./city
RUN pip install --require-hashes -r requirements-runtime.lock \
    && pip install --no-deps --no-build-isolation --no-index . \
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
