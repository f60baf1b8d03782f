# syntax=docker/dockerfile:1
# Canopy's production image (docs/deploy.md): the dependencies are built as wheels in one stage;
# a slim runtime installs them, carries the source tree and serves it with Granian as an
# unprivileged user.
#   docker build -t canopy:local .
#   docker run --rm canopy:local canopy keys generate
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
# The dependencies only, so that this layer is rebuilt when pyproject.toml changes, not the code:
# a placeholder package stands in for server/, and Canopy's own wheel is thrown away (the runtime
# runs the source tree, whose migrations and assets live beside server/).
COPY pyproject.toml README.md ./
RUN mkdir server && touch server/__init__.py \
    && pip wheel --no-cache-dir --wheel-dir /wheels ".[serve,redis]" \
    && rm /wheels/canopy-*.whl

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    CANOPY_ENV=production \
    CANOPY_DATA_DIR=/var/lib/canopy \
    GRANIAN_HOST=0.0.0.0 \
    GRANIAN_PORT=8000 \
    GRANIAN_WORKERS=2
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl \
    && groupadd --system --gid 10001 canopy \
    && useradd --system --uid 10001 --gid canopy --home-dir /var/lib/canopy --shell /usr/sbin/nologin canopy \
    && install -d -o canopy -g canopy -m 0700 /var/lib/canopy \
    && printf '#!/bin/sh\nexec python -m server.cli "$@"\n' > /usr/local/bin/canopy \
    && chmod 0755 /usr/local/bin/canopy
WORKDIR /app
# The code belongs to root and is read-only to the user that runs it.
COPY alembic.ini ./
COPY alembic ./alembic
COPY assets ./assets
COPY server ./server
USER 10001:10001
EXPOSE 8000
# /health answers while the process is alive (/ready also asks the database: for a load balancer).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('GRANIAN_PORT', '8000')}/health\", timeout=4)"]
# The factory reads CANOPY_* and refuses to start, listing every problem, on a configuration
# production must not run with. GRANIAN_WORKERS sets the worker processes.
CMD ["granian", "--interface", "asgi", "--factory", "server.app:create_app"]
