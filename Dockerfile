# The one image of every Splitstream service (compose.yaml runs each as `splitstream <command>`).
# Packages come from uv.lock, as `make install` does, so the image runs what the tests ran.
FROM python:3.11-slim

# The uv of the Makefile (UV_VERSION) and of pyproject's [tool.uv] required-version.
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /usr/local/bin/uv

ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SPLITSTREAM_STATE_DIR=/var/lib/splitstream

WORKDIR /app

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# Run as a user of its own; the state folder (downloads, the Faust agent's data) is its only
# writable place, and a named volume mounted there inherits this ownership.
RUN useradd --system --create-home --uid 10001 splitstream \
    && mkdir -p /var/lib/splitstream \
    && chown splitstream:splitstream /var/lib/splitstream
USER splitstream

ENTRYPOINT ["splitstream"]
CMD ["--help"]
